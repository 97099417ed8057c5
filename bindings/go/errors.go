package shmmetrics

import "strconv"

// Status is a status code of the C ABI. The error codes are the ErrX constants; errors
// returned by this package wrap one, so errors.Is(err, shmmetrics.ErrZoneFull) tells why a
// call failed.
type Status int32

// Error is the library's short text for the status.
func (s Status) Error() string { return statusText(s) }

// Name is the status's name in the C header (SHM_ERR_ZONE_FULL).
func (s Status) Name() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "SHM_STATUS_" + strconv.Itoa(int(s))
}

// statusNames is checked against the header's enum by TestStatusesMatchTheHeader.
var statusNames = map[Status]string{
	ErrNullArgument:    "SHM_ERR_NULL_ARGUMENT",
	ErrInvalidArgument: "SHM_ERR_INVALID_ARGUMENT",
	ErrInvalidName:     "SHM_ERR_INVALID_NAME",
	ErrNameTooLong:     "SHM_ERR_NAME_TOO_LONG",
	ErrInvalidSize:     "SHM_ERR_INVALID_SIZE",
	ErrNotFound:        "SHM_ERR_NOT_FOUND",
	ErrExists:          "SHM_ERR_EXISTS",
	ErrKindMismatch:    "SHM_ERR_KIND_MISMATCH",
	ErrZoneFull:        "SHM_ERR_ZONE_FULL",
	ErrReadOnly:        "SHM_ERR_READ_ONLY",
	ErrBadMagic:        "SHM_ERR_BAD_MAGIC",
	ErrVersion:         "SHM_ERR_VERSION",
	ErrCorrupt:         "SHM_ERR_CORRUPT",
	ErrNotAFile:        "SHM_ERR_NOT_A_FILE",
	ErrPermission:      "SHM_ERR_PERMISSION",
	ErrNoSpace:         "SHM_ERR_NO_SPACE",
	ErrIO:              "SHM_ERR_IO",
	ErrClosed:          "SHM_ERR_CLOSED",
	ErrAttachLimit:     "SHM_ERR_ATTACH_LIMIT",
	ErrInternal:        "SHM_ERR_INTERNAL",
	ErrUntrusted:       "SHM_ERR_UNTRUSTED",
	ErrLockTimeout:     "SHM_ERR_LOCK_TIMEOUT",
}

// Error is a failed call: what was tried, the status, and the library's message for it.
type Error struct {
	Op      string // what was tried, e.g. `register counter "requests"`
	Status  Status
	Message string // the library's message for this call
}

func (e *Error) Error() string { return "shmmetrics: " + e.Op + ": " + e.Message }

// Unwrap gives the status, for errors.Is.
func (e *Error) Unwrap() error { return e.Status }

func newError(op string, s Status, msg string) *Error { return &Error{Op: op, Status: s, Message: msg} }

// quoteShort quotes a name for an error's Op, cut to 64 bytes (names can be long and the
// message says what was wrong with them).
func quoteShort(name string) string {
	if len(name) > 64 {
		return strconv.Quote(name[:64]) + "..."
	}
	return strconv.Quote(name)
}

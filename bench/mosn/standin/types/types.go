// Package types stands in for mosn.io/mosn/pkg/types in the throwaway build of MOSN's
// shared-memory metrics (bench/mosn/assemble.sh): pkg/shm reads only MosnConfigPath, the
// directory of the zone file mosn_shm_<name>, which the benchmark points at a tmpfs directory.
package types

// MosnConfigPath is MOSN's configuration directory (default /home/admin/mosn/conf).
var MosnConfigPath = "/home/admin/mosn/conf"

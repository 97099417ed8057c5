package shmmetrics

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// runHelper is the helper side: "inc" adds SHM_N to proc_total (and proc_by_<SHM_ID>, and
// 0.25 to proc_f64 every 64th time); "continue" prints proc_total before and after adding
// SHM_N.
func runHelper(role string) error {
	z, err := OpenPath(os.Getenv("SHM_ZONE"), nil)
	if err != nil {
		return err
	}
	defer z.Close()
	n := envInt("SHM_N")
	total, err := NewCounter(z, "proc_total")
	if err != nil {
		return err
	}
	switch role {
	case "inc":
		mine, err := NewCounter(z, fmt.Sprintf("proc_by_%d", envInt("SHM_ID")))
		if err != nil {
			return err
		}
		f, err := NewGaugeFloat64(z, "proc_f64")
		if err != nil {
			return err
		}
		for i := int64(1); i <= n; i++ {
			total.Inc(1)
			mine.Inc(1)
			if i%64 == 0 {
				f.Add(0.25)
			}
		}
	case "continue":
		fmt.Printf("start=%d\n", total.Count())
		total.Inc(n)
		fmt.Printf("end=%d\n", total.Count())
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	return nil
}

func startHelper(t *testing.T, role, zone string, id int, n int64) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperRole+"="+role, "SHM_ZONE="+zone, fmt.Sprintf("SHM_ID=%d", id), fmt.Sprintf("SHM_N=%d", n))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// Go processes increment the same counters at once: totals are exact. A Go process started
// after they all exited (and after this one closed the zone) continues from their total.
func TestProcessesShareCountersExactly(t *testing.T) {
	const helpers, n = 3, 200_000
	path := zonePath(t)
	z := must[*Zone](t)(OpenPath(path, &Options{Create: true}))
	total := must[*Counter](t)(NewCounter(z, "proc_total"))
	type running struct {
		cmd *exec.Cmd
		out *bytes.Buffer
	}
	var rs []running
	for id := 1; id <= helpers; id++ {
		cmd, out := startHelper(t, "inc", path, id, n)
		rs = append(rs, running{cmd, out})
	}
	for i := 0; i < n; i++ {
		total.Inc(1)
	}
	for _, r := range rs {
		if err := r.cmd.Wait(); err != nil {
			t.Fatalf("helper: %v\n%s", err, r.out)
		}
	}
	if got := total.Count(); got != (helpers+1)*n {
		t.Fatalf("proc_total = %d, want %d", got, (helpers+1)*n)
	}
	for id := 1; id <= helpers; id++ {
		if m, ok := find(t, z, fmt.Sprintf("proc_by_%d", id)); !ok || m.Int != n {
			t.Errorf("proc_by_%d = %+v", id, m)
		}
	}
	if m, _ := find(t, z, "proc_f64"); m.Float != float64(helpers*(n/64))*0.25 {
		t.Errorf("proc_f64 = %v", m.Float)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}

	cmd, out := startHelper(t, "continue", path, 0, 5)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("later helper: %v\n%s", err, out)
	}
	want := fmt.Sprintf("start=%d\nend=%d\n", (helpers+1)*n, (helpers+1)*n+5)
	if out.String() != want {
		t.Fatalf("the later process printed %q, want %q", out.String(), want)
	}
	monitor := must[*Zone](t)(OpenPath(path, &Options{ReadOnly: true}))
	defer monitor.Close()
	if m, _ := find(t, monitor, "proc_total"); m.Int != (helpers+1)*n+5 {
		t.Fatalf("proc_total read by a monitor: %d", m.Int)
	}
}

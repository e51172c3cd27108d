package cli

import (
	"io"
	"math"
	"runtime/debug"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"64MiB", 64 << 20, false},
		{"1GiB", 1 << 30, false},
		{"512KiB", 512 << 10, false},
		{"2TiB", 2 << 40, false},
		{"1048576", 1 << 20, false},
		{"100B", 100, false},
		{"64MB", 0, true},
		{"64mib", 0, true},
		{"MiB", 0, true},
		{"-1MiB", 0, true},
		{"1.5GiB", 0, true},
		{"99999999999TiB", 0, true},
		{"lots", 0, true},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseByteSize(%q): got %d, %v, want %d (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseServeConfig_MemoryLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    int64
		wantErr bool
	}{
		{"unset", nil, nil, 0, false},
		{"environment", nil, map[string]string{"PORTAL_MEMORY_LIMIT": "64MiB"}, 64 << 20, false},
		{"flag beats environment", []string{"--memory-limit", "1GiB"}, map[string]string{"PORTAL_MEMORY_LIMIT": "64MiB"}, 1 << 30, false},
		{"too small", []string{"--memory-limit", "1MiB"}, nil, 0, true},
		{"not a size", []string{"--memory-limit", "64MB"}, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseServeConfig(append([]string{"portal serve"}, tt.args...), envMap(tt.env), io.Discard)
			if tt.wantErr {
				if err == nil {
					t.Errorf("got %d, want an error naming memory-limit", c.MemoryLimit)
				}
				return
			}
			if err != nil || c.MemoryLimit != tt.want {
				t.Errorf("got %d, %v, want %d", c.MemoryLimit, err, tt.want)
			}
		})
	}
}

// TestServe_MemoryLimit: serve sets the runtime's memory limit while it
// runs, says so, and puts the previous one back. Not parallel: the limit
// is the process's.
func TestServe_MemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	s := startServe(t, map[string]string{"PORTAL_MEMORY_LIMIT": "3GiB"})
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Errorf("while serving: got limit %d, want %d", got, int64(3<<30))
	}
	line, _ := logLine(s.out.String(), "serving")
	if got, _ := line["memoryLimit"].(float64); got != 3<<30 {
		t.Errorf("serving line %v: want memoryLimit %d", line, int64(3<<30))
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("after serve: got limit %d, want the previous %d", got, before)
	}
	if before != math.MaxInt64 {
		t.Logf("the test process had a limit of %d already", before)
	}
}

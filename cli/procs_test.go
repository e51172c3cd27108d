package cli

import (
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestParseServeConfig_Procs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    int
		wantErr bool
	}{
		{"unset is auto", nil, nil, 0, false},
		{"auto", []string{"--procs", "auto"}, nil, 0, false},
		{"environment", nil, map[string]string{"PORTAL_PROCS": "8"}, 8, false},
		{"flag beats environment", []string{"--procs", "3"}, map[string]string{"PORTAL_PROCS": "8"}, 3, false},
		{"the most", []string{"--procs", "1024"}, nil, 1024, false},
		{"zero", []string{"--procs", "0"}, nil, 0, true},
		{"negative", []string{"--procs", "-2"}, nil, 0, true},
		{"too many", []string{"--procs", "1025"}, nil, 0, true},
		{"not a number", []string{"--procs", "two"}, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseServeConfig(append([]string{"portal serve"}, tt.args...), envMap(tt.env), io.Discard)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "procs") {
					t.Errorf("got %d, %v, want an error naming procs", c.Procs, err)
				}
				return
			}
			if err != nil || c.Procs != tt.want {
				t.Errorf("got %d, %v, want %d", c.Procs, err, tt.want)
			}
		})
	}
}

func TestServingProcs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		setting    int
		mapped     bool
		gomaxprocs string
		current    int
		want       int
	}{
		{"auto on a file doubles", 0, true, "", 2, 4},
		{"auto on a file, one CPU", 0, true, "", 1, 2},
		{"auto on a file, capped", 0, true, "", 1000, maxProcs},
		{"auto on etcd leaves the runtime's", 0, false, "", 2, 0},
		{"auto with GOMAXPROCS leaves it", 0, true, "3", 3, 0},
		{"a number wins on a file", 6, true, "", 2, 6},
		{"a number wins over GOMAXPROCS", 6, true, "3", 3, 6},
		{"a number wins on etcd", 1, false, "", 2, 1},
	}
	for _, tt := range tests {
		if got := servingProcs(tt.setting, tt.mapped, tt.gomaxprocs, tt.current); got != tt.want {
			t.Errorf("%s: servingProcs(%d, %v, %q, %d) = %d, want %d", tt.name, tt.setting, tt.mapped, tt.gomaxprocs, tt.current, got, tt.want)
		}
	}
}

// TestHoldProcs: serves that run at once share the first one's setting,
// and the last to stop puts back what was there. Not parallel: GOMAXPROCS
// is the process's.
func TestHoldProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	first := holdProcs(before + 3)
	if got := runtime.GOMAXPROCS(0); got != before+3 {
		t.Fatalf("held: got %d, want %d", got, before+3)
	}
	second := holdProcs(before + 7)
	if got := runtime.GOMAXPROCS(0); got != before+3 {
		t.Errorf("second hold: got %d, want the first's %d", got, before+3)
	}
	first()
	first() // a second call changes nothing
	if got := runtime.GOMAXPROCS(0); got != before+3 {
		t.Errorf("first released, second still held: got %d, want %d", got, before+3)
	}
	second()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("all released: got %d, want the previous %d", got, before)
	}
}

// TestServe_Procs: serve on a bbolt file runs with twice the processors
// unless told otherwise, says so, and puts the previous number back. Not
// parallel: GOMAXPROCS is the process's.
func TestServe_Procs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	tests := []struct {
		name string
		env  map[string]string
		want int
	}{
		{"auto", nil, min(2*before, maxProcs)},
		{"a number", map[string]string{"PORTAL_PROCS": "3"}, 3},
		{"GOMAXPROCS set", map[string]string{"GOMAXPROCS": "1"}, before},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServe(t, tt.env)
			if got := runtime.GOMAXPROCS(0); got != tt.want {
				t.Errorf("while serving: got %d, want %d", got, tt.want)
			}
			line, _ := logLine(s.out.String(), "serving")
			if got, _ := line["procs"].(float64); int(got) != tt.want {
				t.Errorf("serving line %v: want procs %d", line, tt.want)
			}
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			if got := runtime.GOMAXPROCS(0); got != before {
				t.Errorf("after serve: got %d, want the previous %d", got, before)
			}
		})
	}
}

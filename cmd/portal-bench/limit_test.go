package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseEvents(t *testing.T) {
	t.Parallel()
	const (
		v1OOMControl = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
		v2Events     = "low 0\nhigh 0\nmax 72535\noom 1\noom_kill 1\noom_group_kill 0\n"
	)
	tests := []struct {
		name, raw, file, hitsKey string
		want                     cgroupUsage
		wantErr                  string
	}{
		{"v1 memory.oom_control", v1OOMControl, "memory.oom_control", "", cgroupUsage{peak: 5, hits: 7, oomKills: 2}, ""},
		{"v2 memory.events", v2Events, "memory.events", "max", cgroupUsage{peak: 5, hits: 72535, oomKills: 1}, ""},
		{"v2 no kill", "max 0\noom_kill 0\n", "memory.events", "max", cgroupUsage{peak: 5}, ""},
		{"no oom_kill (before Linux 4.13)", "oom_kill_disable 0\nunder_oom 0\n", "memory.oom_control", "", cgroupUsage{}, "no oom_kill"},
		{"oom_kill not a number", "oom_kill x\n", "memory.oom_control", "", cgroupUsage{}, "oom_kill"},
		{"max not a number", "max -1\noom_kill 0\n", "memory.events", "max", cgroupUsage{}, "max"},
		// "oom_kill_disable" must not be read as "oom_kill".
		{"oom_kill_disable alone", "oom_kill_disable 1\n", "memory.oom_control", "", cgroupUsage{}, "no oom_kill"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The v1 hits come from memory.failcnt, read before.
			in := cgroupUsage{peak: 5}
			if tt.hitsKey == "" {
				in.hits = 7
			}
			got, err := parseEvents(in, tt.raw, tt.file, tt.hitsKey)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestServerGoLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		limit, opt int64
		want       int64
	}{
		{"no limit", 0, 0, 0},
		{"no limit, a Go limit asked", 0, 40 << 20, 0},
		{"64 MiB: an eighth below", 64 << 20, 0, 56 << 20},
		{"1 GiB: an eighth below", 1 << 30, 0, 896 << 20},
		{"17 MiB: serve's 16 MiB floor", 17 << 20, 0, 16 << 20},
		{"16 MiB: not above the limit", 16 << 20, 0, 16 << 20},
		{"asked for", 64 << 20, 48 << 20, 48 << 20},
		{"off", 64 << 20, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := (options{goMemoryLimit: tt.opt}).serverGoLimit(tt.limit); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestParseOptions_Constrained(t *testing.T) {
	t.Setenv("PORTAL_MEMORY_LIMIT", "") // the flag's default comes from it
	tests := []struct {
		name           string
		args           []string
		limit, goLimit int64
		constrained    bool
		wantErr        string
	}{
		{name: "constrained defaults to 64 MiB", args: []string{"--constrained"}, limit: 64 << 20, constrained: true},
		{name: "constrained with a limit", args: []string{"--constrained", "--memory-limit", "96MiB"}, limit: 96 << 20, constrained: true},
		{name: "a limit alone", args: []string{"--memory-limit", "64MiB"}, limit: 64 << 20},
		{name: "go limit", args: []string{"--memory-limit", "64MiB", "--go-memory-limit", "48MiB"}, limit: 64 << 20, goLimit: 48 << 20},
		{name: "go limit off", args: []string{"--memory-limit", "64MiB", "--go-memory-limit", "off"}, limit: 64 << 20, goLimit: -1},
		{name: "go limit too small", args: []string{"--go-memory-limit", "8MiB"}, wantErr: "go-memory-limit"},
		{name: "go limit unreadable", args: []string{"--go-memory-limit", "lots"}, wantErr: "go-memory-limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(append([]string{"portal-bench"}, tt.args...), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || o.memoryLimit != tt.limit || o.goMemoryLimit != tt.goLimit || o.constrained != tt.constrained {
				t.Errorf("got limit %d, Go limit %d, constrained %v, %v; want %d, %d, %v",
					o.memoryLimit, o.goMemoryLimit, o.constrained, err, tt.limit, tt.goLimit, tt.constrained)
			}
		})
	}
	t.Run("go limit from the environment", func(t *testing.T) {
		t.Setenv("PORTAL_MEMORY_LIMIT", "40MiB")
		o, err := parseOptions([]string{"portal-bench", "--constrained"}, io.Discard)
		if err != nil || o.goMemoryLimit != 40<<20 {
			t.Errorf("got Go limit %d, %v; want %d", o.goMemoryLimit, err, 40<<20)
		}
	})
}

// mixedRun is a run whose mixed load did rate req/s with errs errors.
func mixedRun(rate float64, errs int, limit limitInfo) sizeRun {
	return sizeRun{limit: limit, endpoints: []result{
		{name: "GET /config", requests: 50000, elapsed: 10 * time.Second},
		{name: mixedName, requests: int(rate * 10), errors: errs, elapsed: 10 * time.Second},
	}}
}

func TestConstrainedGoal(t *testing.T) {
	t.Parallel()
	v1 := limitInfo{limit: 64 << 20, goLimit: 56 << 20, mechanism: mechanismV1}
	soft := limitInfo{limit: 64 << 20, goLimit: 56 << 20, mechanism: mechanismSoft, why: "no cgroup memory controller is mounted"}
	free := mixedRun(5000, 0, limitInfo{})
	killed := mixedRun(4500, 0, v1)
	killed.usage.oomKills = 1
	killed.exited, killed.exitErr = true, errors.New("signal: killed")
	unread := mixedRun(4500, 0, v1)
	unread.limitErr = errors.New("memory.oom_control: no such file")
	tests := []struct {
		name    string
		limited sizeRun
		free    sizeRun
		want    string
	}{
		{"met", mixedRun(4500, 0, v1), free,
			"4500 req/s under 64.0 MiB (cgroup v1 memory.limit_in_bytes) against 5000 without = 0.90× (want ≥ 0.80, no OOM kill, no error): met"},
		{"exactly 0.8", mixedRun(4000, 0, v1), free, "= 0.80× (want ≥ 0.80, no OOM kill, no error): met"},
		{"too slow", mixedRun(3000, 0, v1), free, "= 0.60× (want ≥ 0.80, no OOM kill, no error): NOT MET (under 0.80×)"},
		{"killed", killed, free,
			"NOT MET (1 OOM kills; the server exited: signal: killed (SIGKILL, as the OOM killer sends it))"},
		{"errors", mixedRun(4500, 3, v1), free, "NOT MET (3 errors)"},
		{"OOM kills unknown", unread, free, "NOT MET (the limit's usage unreadable, OOM kills unknown)"},
		{"soft limit only", mixedRun(4500, 0, soft), free,
			"(soft Go limit only, no hard cap) against 5000 without = 0.90× (want ≥ 0.80, no OOM kill, no error): met, but with the soft Go limit only, no hard cap: nothing enforced 64.0 MiB"},
		{"no mixed load", sizeRun{limit: v1}, sizeRun{}, "not measured (the mixed load was not among --endpoints): NOT MET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := constrainedGoal(tt.free, tt.limited); !strings.HasSuffix(got, tt.want) {
				t.Errorf("got %q, want it to end %q", got, tt.want)
			}
		})
	}
}

func TestLimitInfo_Describe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		l    limitInfo
		want string
	}{
		{"v2", limitInfo{limit: 64 << 20, goLimit: 56 << 20, mechanism: mechanismV2},
			"memory limit 64.0 MiB: cgroup v2 memory.max, as systemd's MemoryMax= sets it, and PORTAL_MEMORY_LIMIT=56.0 MiB (GOMEMLIMIT)"},
		{"v1 without a Go limit", limitInfo{limit: 64 << 20, mechanism: mechanismV1},
			"memory limit 64.0 MiB: cgroup v1 memory.limit_in_bytes, as systemd's MemoryMax= sets it, and no PORTAL_MEMORY_LIMIT"},
		{"soft", limitInfo{limit: 64 << 20, goLimit: 56 << 20, mechanism: mechanismSoft, why: "permission denied"},
			"memory limit 64.0 MiB: soft Go limit only, no hard cap: the server ran with PORTAL_MEMORY_LIMIT=56.0 MiB (GOMEMLIMIT) and nothing else held it (no writable cgroup: permission denied)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.l.describe(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSizeRun_PrintLimit(t *testing.T) {
	t.Parallel()
	v1 := limitInfo{limit: 64 << 20, goLimit: 56 << 20, mechanism: mechanismV1}
	soft := limitInfo{limit: 64 << 20, goLimit: 56 << 20, mechanism: mechanismSoft, why: "permission denied"}
	tests := []struct {
		name string
		r    sizeRun
		want []string
	}{
		{"no limit", sizeRun{}, nil},
		{"cgroup", sizeRun{limit: v1, usage: cgroupUsage{peak: 63 << 20, hits: 12, oomKills: 0}, majorFaults: 345},
			[]string{"cgroup v1 memory.limit_in_bytes", "peak charge 63.0 MiB, the limit reached 12 times", "OOM kills 0", "345 major faults"}},
		{"soft", sizeRun{limit: soft, majorFaults: 3}, []string{"soft Go limit only, no hard cap", "no writable cgroup: permission denied", "3 major faults"}},
		{"OOM killed", sizeRun{limit: v1, usage: cgroupUsage{oomKills: 1}, majorFaults: -1, exited: true, exitErr: errors.New("signal: killed")},
			[]string{"OOM kills 1", "major faults unknown (the server had exited)",
				"SERVER EXITED before the run ended: signal: killed (SIGKILL, as the OOM killer sends it)"}},
		{"usage unreadable", sizeRun{limit: v1, limitErr: errors.New("memory.peak: no such file")}, []string{"usage unavailable: memory.peak: no such file"}},
		{"stop failed", sizeRun{stopErr: errors.New("server did not stop within 15s of SIGTERM; killed")},
			[]string{"SERVER STOP FAILED: server did not stop within 15s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			tt.r.printLimit(&b)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("got %q, want it to contain %q", b.String(), w)
				}
			}
			if tt.want == nil && b.Len() > 0 {
				t.Errorf("got %q, want nothing", b.String())
			}
		})
	}
}

func TestNormalizedRatios(t *testing.T) {
	t.Parallel()
	run := func(mixed, bare, commits float64) sizeRun {
		r := mixedRun(mixed, 0, limitInfo{})
		r.bare = []result{{requests: int(bare * 10), elapsed: 10 * time.Second}}
		r.commits = []float64{commits, commits}
		return r
	}
	tests := []struct {
		name          string
		free, limited sizeRun
		want          string
	}{
		{"machine steady", run(5000, 30000, 1600), run(4000, 30000, 1600),
			"bare rate: 0.80×; by its own sequential commit rate (1600 and 1600 tx/s): 0.80×"},
		{"disk slower under the limit", run(5000, 30000, 1600), run(3000, 30000, 800),
			"bare rate: 0.60×; by its own sequential commit rate (1600 and 800 tx/s): 1.20×"},
		{"no commit measurement", run(5000, 30000, 1600), mixedRun(4000, 0, limitInfo{}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := normalizedRatios(tt.free, tt.limited); !strings.HasSuffix(got, tt.want) || (tt.want == "") != (got == "") {
				t.Errorf("got %q, want it to end %q", got, tt.want)
			}
		})
	}
}

package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseOptions_Store(t *testing.T) {
	t.Parallel()
	// Whether etcd is accepted depends on the build: with -tags etcd it
	// is, without it the error says how to get a build that runs it.
	etcdErr := ""
	if !etcdBuilt {
		etcdErr = "go run -tags etcd ./cmd/portal-bench"
	}
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{name: "default bbolt", args: nil, want: []string{storeBolt}},
		{name: "bbolt", args: []string{"--store", "bbolt"}, want: []string{storeBolt}},
		{name: "etcd", args: []string{"--store", "etcd"}, want: []string{storeEtcd}, wantErr: etcdErr},
		{name: "both", args: []string{"--store", "bbolt, etcd"}, want: []string{storeBolt, storeEtcd}, wantErr: etcdErr},
		{name: "both, etcd first", args: []string{"--store", "etcd,bbolt"}, want: []string{storeEtcd, storeBolt}, wantErr: etcdErr},
		{name: "twice", args: []string{"--store", "bbolt,bbolt"}, wantErr: `store: "bbolt" given twice`},
		{name: "unknown", args: []string{"--store", "sqlite"}, wantErr: `store: "sqlite" is not one of bbolt, etcd`},
		{name: "a URL", args: []string{"--store", "etcd://127.0.0.1:2379"}, wantErr: "is not one of"},
		{name: "empty", args: []string{"--store", ""}, wantErr: `store: "" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseOptions(append([]string{"portal-bench"}, tt.args...), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if fmt.Sprint(o.stores) != fmt.Sprint(tt.want) {
				t.Errorf("got stores %v, want %v", o.stores, tt.want)
			}
		})
	}
}

// storeRun is a run on store whose endpoints did the given req/s over 10 s,
// with a bare handler at bare req/s.
func storeRun(store string, bare float64, rates map[string]float64, errs int) sizeRun {
	r := sizeRun{store: store, fx: fixture{users: 1000}, bare: []result{{name: "bare", requests: int(bare * 10), elapsed: 10 * time.Second}}}
	for _, name := range append([]string{"POST /invitations"}, readEndpoints...) {
		if rate, ok := rates[name]; ok {
			r.endpoints = append(r.endpoints, result{name: name, requests: int(rate * 10), elapsed: 10 * time.Second, errors: errs})
		}
	}
	return r
}

func TestStoreGoals(t *testing.T) {
	t.Parallel()
	bolt := storeRun(storeBolt, 20000, map[string]float64{"POST /invitations": 4000, "GET /config": 10000,
		"GET /users/{id}": 10000, "GET /users?limit=20": 8000, "GET /stats": 9000}, 0)
	tests := []struct {
		name  string
		etcd  sizeRun
		wants []string // in order: invitations, then the reads
	}{
		{name: "all met", etcd: storeRun(storeEtcd, 20000, map[string]float64{"POST /invitations": 1600, "GET /config": 3000,
			"GET /users/{id}": 5000, "GET /users?limit=20": 2400, "GET /stats": 2700}, 0),
			wants: []string{"POST /invitations      0.40× bbolt (want ≥ 0.40): met", "GET /config            0.30× bbolt (want ≥ 0.30): met",
				"GET /users/{id}        0.50× bbolt (want ≥ 0.30): met", "GET /users?limit=20    0.30× bbolt (want ≥ 0.30): met",
				"GET /stats             0.30× bbolt (want ≥ 0.30): met"}},
		{name: "below", etcd: storeRun(storeEtcd, 20000, map[string]float64{"POST /invitations": 1500, "GET /config": 2900,
			"GET /users/{id}": 5000, "GET /users?limit=20": 800, "GET /stats": 2700}, 0),
			wants: []string{"0.38× bbolt (want ≥ 0.40): NOT MET", "0.29× bbolt (want ≥ 0.30): NOT MET",
				"0.50× bbolt (want ≥ 0.30): met", "0.10× bbolt (want ≥ 0.30): NOT MET", "0.30× bbolt (want ≥ 0.30): met"}},
		{name: "errors fail a goal met on rate", etcd: storeRun(storeEtcd, 20000, map[string]float64{"POST /invitations": 4000}, 3),
			wants: []string{"1.00× bbolt (want ≥ 0.40), 3 errors: NOT MET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := storeGoals(bolt, tt.etcd)
			if len(got) != len(tt.wants) {
				t.Fatalf("got %d lines %q, want %d", len(got), got, len(tt.wants))
			}
			for i, want := range tt.wants {
				if !strings.Contains(got[i], want) {
					t.Errorf("line %d: got %q, want it to contain %q", i, got[i], want)
				}
			}
		})
	}
}

func TestPrintStores(t *testing.T) {
	t.Parallel()
	bolt := storeRun(storeBolt, 20000, map[string]float64{"POST /invitations": 4000, "GET /users/{id}": 10000}, 0)
	etcd := storeRun(storeEtcd, 10000, map[string]float64{"POST /invitations": 2000, "GET /users/{id}": 2500}, 0)
	var b bytes.Buffer
	printStores(&b, bolt, etcd)
	out := b.String()
	for _, want := range []string{"== 1000 users: etcd against bbolt", "GET /users/{id}        0.25× bbolt (want ≥ 0.30): NOT MET",
		"POST /invitations      0.50× bbolt (want ≥ 0.40): met"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The table's rows, by their columns: bbolt req/s, etcd req/s,
	// etcd/bbolt, and the same by each run's bare rate:
	// (2500/10000)/(10000/20000) = 0.50.
	rows := map[string]string{"GET /users/{id}": "10000 2500 0.25 0.50", "POST /invitations": "4000 2000 0.50 1.00"}
	for name, want := range rows {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), name); ok && !strings.Contains(rest, "×") {
				found = true
				if got := strings.Join(strings.Fields(rest)[:4], " "); got != want {
					t.Errorf("row %s: got %q, want %q", name, got, want)
				}
			}
		}
		if !found {
			t.Errorf("no row %s in:\n%s", name, out)
		}
	}
}

func TestRunsOn(t *testing.T) {
	t.Parallel()
	runs := []sizeRun{{store: storeBolt, fx: fixture{users: 1}}, {store: storeEtcd, fx: fixture{users: 1}}, {store: storeBolt, fx: fixture{users: 2}}}
	got := runsOn(runs, storeBolt)
	if len(got) != 2 || got[0].fx.users != 1 || got[1].fx.users != 2 {
		t.Errorf("got %+v, want the two bbolt runs in order", got)
	}
	if got := runsOn(runs, storeEtcd); len(got) != 1 {
		t.Errorf("got %d etcd runs, want 1", len(got))
	}
}

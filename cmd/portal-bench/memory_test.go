package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// statusHead is the start of a real /proc/<pid>/status of a Linux 6 kernel.
const statusHead = `Name:	portal
Umask:	0022
State:	S (sleeping)
VmPeak:	 1261748 kB
VmSize:	 1261748 kB
VmLck:	       0 kB
VmHWM:	  155960 kB
VmRSS:	  140312 kB
RssAnon:	   18232 kB
RssFile:	  122080 kB
RssShmem:	       0 kB
VmData:	   61132 kB
Threads:	8
`

func TestParseStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  string
		want    memory
		wantErr string
	}{
		{name: "linux 6", status: statusHead,
			want: memory{peak: 155960 << 10, rss: 140312 << 10, anon: 18232 << 10, file: 122080 << 10}},
		{name: "fields in another order", status: "RssAnon:\t1 kB\nVmHWM:\t3 kB\n",
			want: memory{peak: 3 << 10, anon: 1 << 10}},
		{name: "no RssAnon (before Linux 4.5)", status: "VmHWM:\t3 kB\nVmRSS:\t2 kB\n", wantErr: "no RssAnon"},
		{name: "no VmHWM", status: "RssAnon:\t1 kB\n", wantErr: "no VmHWM"},
		{name: "empty", status: "", wantErr: "no VmHWM"},
		{name: "not a number", status: "VmHWM:\t3 kB\nRssAnon:\tlots kB\n", wantErr: "RssAnon"},
		{name: "negative", status: "VmHWM:\t3 kB\nRssAnon:\t-1 kB\n", wantErr: "RssAnon"},
		{name: "another unit", status: "VmHWM:\t3 kB\nRssAnon:\t1 MB\n", wantErr: "RssAnon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStatus(strings.NewReader(tt.status))
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

func TestMemoryPeaks_Add(t *testing.T) {
	t.Parallel()
	var p memoryPeaks
	for _, m := range []memory{{anon: 10, file: 50}, {anon: 30, file: 20}, {anon: 20, file: 40}} {
		p.add(m)
	}
	if want := (memoryPeaks{anon: 30, file: 50, samples: 3}); p != want {
		t.Errorf("got %+v, want %+v", p, want)
	}
}

func TestMemoryGoal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		peaks memoryPeaks
		want  string
	}{
		{"under", memoryPeaks{anon: 18 << 20, file: 140 << 20, samples: 900}, "18.0 MiB (want < 32.0 MiB, 900 samples): met"},
		{"at the goal", memoryPeaks{anon: 32 << 20, samples: 900}, "32.0 MiB (want < 32.0 MiB, 900 samples): NOT MET"},
		{"over", memoryPeaks{anon: 45 << 20, samples: 10}, "45.0 MiB (want < 32.0 MiB, 10 samples): NOT MET"},
		{"no sample", memoryPeaks{}, "0.0 MiB (want < 32.0 MiB, 0 samples): NOT MET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := memoryGoal(tt.peaks); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTarget_Mixed(t *testing.T) {
	t.Parallel()
	ts := targets("http://127.0.0.1:1", "tok", []string{"u1"}, []string{"stats", "mixed", "invite"})
	if len(ts) != 3 || ts[1].name != mixedName {
		t.Fatalf("got %d targets, want stats, mixed, invite", len(ts))
	}
	mixed := ts[1]
	if !mixed.writes() || ts[0].writes() || !ts[2].writes() {
		t.Errorf("writes: stats %v, mixed %v, invite %v; want false, true, true", ts[0].writes(), mixed.writes(), ts[2].writes())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int{}
	for range 10000 {
		next := mixed.pick(rng)
		if next.token != "tok" {
			t.Fatalf("%s drawn without the token", next.name)
		}
		counts[next.name]++
	}
	// 2, 4, 1, 1 and 2 in 10; 10,000 draws keep each share well within 2 points.
	want := map[string]float64{"GET /config": .2, "GET /users/{id}": .4, "GET /users?limit=20": .1, "GET /stats": .1, "POST /invitations": .2}
	for name, share := range want {
		if got := float64(counts[name]) / 10000; got < share-.02 || got > share+.02 {
			t.Errorf("%s drawn %.3f of the time, want %.2f", name, got, share)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("drew %v, want only %v", counts, want)
	}
}

func TestLoad_MixedCountsWrites(t *testing.T) {
	t.Parallel()
	var gets, posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
			w.WriteHeader(http.StatusCreated)
			return
		}
		gets.Add(1)
	}))
	defer srv.Close()
	client := newClient(2)
	defer client.CloseIdleConnections()
	get := target{name: "get", method: http.MethodGet, url: fixed(srv.URL)}
	post := target{name: "post", method: http.MethodPost, url: fixed(srv.URL), body: func(uint64) []byte { return []byte("{}") }}
	var seq atomic.Uint64
	r, err := load(context.Background(), client, target{name: "mix", mix: []target{get, post}}, 2, 100*time.Millisecond, &seq)
	if err != nil {
		t.Fatal(err)
	}
	if r.errors != 0 || !r.writer || r.created != int(posts.Load()) || r.requests != int(gets.Load()+posts.Load()) || gets.Load() == 0 || posts.Load() == 0 {
		t.Errorf("got %d requests, %d created, %d errors, writer %v; server saw %d GET, %d POST",
			r.requests, r.created, r.errors, r.writer, gets.Load(), posts.Load())
	}
}

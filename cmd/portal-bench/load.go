package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is one measured endpoint.
type target struct {
	name   string // as in the table
	method string
	// path returns the URL of the next request; rng is the worker's own.
	url func(rng *rand.Rand) string
	// body returns the next request's body (nil for none); seq is unique
	// across the run.
	body  func(seq uint64) []byte
	token string
	// mix, if set, makes this a mixed load: each request is one of mix,
	// drawn at random (a target listed twice is drawn twice as often).
	mix []target
}

// writes reports whether t sends writes (a body), itself or in its mix.
func (t target) writes() bool {
	if t.body != nil {
		return true
	}
	return slices.ContainsFunc(t.mix, target.writes)
}

// pick returns the target of the next request.
func (t target) pick(rng *rand.Rand) target {
	if len(t.mix) == 0 {
		return t
	}
	return t.mix[rng.IntN(len(t.mix))]
}

// result is what one measurement found.
type result struct {
	name     string
	requests int
	errors   int // non-2xx answers and transport errors
	elapsed  time.Duration
	p50, p99 time.Duration
	sample   string       // the first error seen, for the notes
	writer   bool         // the target sends writes
	created  int          // writes answered 2xx
	mem      memory       // the server's memory after this measurement
	peaks    memoryPeaks  // sampled during this measurement, its warm-up included
	etcd     etcdRequests // on etcd: what the cluster served during the measurement
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// newClient is a keep-alive client that holds one idle connection per
// worker, so the measurement never dials after the warm-up.
func newClient(concurrency int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        2 * concurrency,
			MaxIdleConnsPerHost: concurrency,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
	}
}

// measure runs t with concurrency workers: warmup unmeasured, then
// duration measured. seq numbers the requests across both, so bodies stay
// unique.
func measure(ctx context.Context, client *http.Client, t target, concurrency int, warmup, duration time.Duration, seq *atomic.Uint64) (result, error) {
	if warmup > 0 {
		if _, err := load(ctx, client, t, concurrency, warmup, seq); err != nil {
			return result{}, err
		}
	}
	return load(ctx, client, t, concurrency, duration, seq)
}

// workerStats is one worker's share of a result.
type workerStats struct {
	lat     []time.Duration
	errors  int
	created int
	sample  string
}

func load(ctx context.Context, client *http.Client, t target, concurrency int, duration time.Duration, seq *atomic.Uint64) (result, error) {
	stats := make([]workerStats, concurrency)
	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i)))
			st := &stats[i]
			st.lat = make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				next := t.pick(rng)
				d, err := once(ctx, client, next, rng, seq)
				st.lat = append(st.lat, d)
				switch {
				case err != nil:
					st.errors++
					if st.sample == "" {
						st.sample = err.Error()
					}
				case next.body != nil:
					st.created++
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	r := result{name: t.name, elapsed: time.Since(start), writer: t.writes()}
	var all []time.Duration
	for _, st := range stats {
		all = append(all, st.lat...)
		r.errors += st.errors
		r.created += st.created
		if r.sample == "" {
			r.sample = st.sample
		}
	}
	r.requests = len(all)
	if len(all) > 0 {
		slices.Sort(all)
		r.p50 = all[len(all)*50/100]
		r.p99 = all[min(len(all)-1, len(all)*99/100)]
	}
	return r, nil
}

// once sends one request and reads the whole answer; a non-2xx answer is
// an error naming its status and the start of its body.
func once(ctx context.Context, client *http.Client, t target, rng *rand.Rand, seq *atomic.Uint64) (time.Duration, error) {
	var body io.Reader
	var raw []byte
	if t.body != nil {
		raw = t.body(seq.Add(1))
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, t.method, t.url(rng), body)
	if err != nil {
		return 0, err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return time.Since(start), err
	}
	var head []byte
	if resp.StatusCode/100 != 2 {
		head, _ = io.ReadAll(io.LimitReader(resp.Body, 200))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode/100 != 2 {
		return d, fmt.Errorf("%s %s: %s: %s", t.method, req.URL.Path, resp.Status, bytes.TrimSpace(head))
	}
	return d, err
}

package auth_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
)

// cheap are argon2id settings that cost next to nothing.
var cheap = auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHasher_RoundTrip(t *testing.T) {
	t.Parallel()
	h := auth.NewHasher(cheap, 1)
	enc, err := h.Hash(t.Context(), "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, enc, pw string
		want          bool
	}{
		{"right", enc, "correct horse", true},
		{"wrong", enc, "correct horsE", false},
		{"no user", "", "correct horse", false},
	} {
		if got, _ := h.Check(t.Context(), tt.enc, tt.pw); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestHasher_Lines: with the one slot held, the line of new passwords
// takes HashQueue and then turns requests away at once with a BusyError;
// a login waiting in its own line gets the slot before the new passwords
// that were waiting longer.
func TestHasher_Lines(t *testing.T) {
	t.Parallel()
	// events is the order of what ran in the slot: "hash" when a new
	// password's precheck ran, "run" when any hash started.
	var mu sync.Mutex
	var events []string
	event := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}
	hold := make(chan struct{})
	started := make(chan struct{}, 16)
	h := auth.NewHasherWith(cheap, auth.HasherOptions{Concurrent: 1, HashQueue: 2, CheckQueue: 1, OnHash: func() {
		event("run")
		started <- struct{}{}
		<-hold
	}})
	ctx := t.Context()
	run := func(f func() error) <-chan error {
		done := make(chan error, 1)
		go func() { done <- f() }()
		return done
	}
	hash := func() error {
		_, err := h.Hash(ctx, "pw", func() error { event("hash"); return nil })
		return err
	}
	check := func() error { _, err := h.Check(ctx, "", "pw"); return err }

	holder := run(hash)
	<-started // the slot is taken and held
	queued := []<-chan error{run(hash), run(hash)}
	waitLine(t, h, 2, 0)
	// The line of new passwords is full: refused at once, without a hash.
	var be *data.BusyError
	if err := hash(); !errors.As(err, &be) || be.RetryAfterSeconds < 1 {
		t.Fatalf("third waiting hash: got %v, want a BusyError with a wait", err)
	}
	login := run(check)
	waitLine(t, h, 2, 1)
	if err := check(); !errors.As(err, &be) {
		t.Fatalf("second waiting login: got %v, want a BusyError", err)
	}
	close(hold)
	for _, c := range append([]<-chan error{holder, login}, queued...) {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"hash", "run", "run", "hash", "run", "hash", "run"}
	if !slices.Equal(events, want) {
		t.Errorf("got slot events %v, want %v: the holder, then the login, then the new passwords", events, want)
	}
}

// waitLine polls until h has hashes new passwords and checks logins
// waiting, for at most ten seconds.
func waitLine(t *testing.T, h *auth.Hasher, hashes, checks int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		gh, gc := h.Waiting()
		if gh == hashes && gc == checks {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d and %d waiting, want %d and %d", gh, gc, hashes, checks)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHasher_CancelWhileWaiting(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	started := make(chan struct{}, 4)
	h := auth.NewHasherWith(cheap, auth.HasherOptions{Concurrent: 1, OnHash: func() {
		started <- struct{}{}
		<-hold
	}})
	done := make(chan error, 1)
	go func() { _, err := h.Hash(t.Context(), "pw", nil); done <- err }()
	<-started
	ctx, cancel := context.WithCancel(t.Context())
	waiting := make(chan error, 1)
	go func() { _, err := h.Check(ctx, "", "pw"); waiting <- err }()
	waitLine(t, h, 0, 1)
	cancel()
	if err := <-waiting; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if gh, gc := h.Waiting(); gh != 0 || gc != 0 {
		t.Errorf("got %d, %d waiting after the cancel, want none", gh, gc)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The slot came back: another hash runs.
	go func() { <-started }()
	if _, err := h.Hash(t.Context(), "pw", nil); err != nil {
		t.Fatal(err)
	}
}

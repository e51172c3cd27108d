package mail

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 30 * time.Second},
		{2, time.Minute},
		{3, 2 * time.Minute},
		{4, 4 * time.Minute},
		{7, 32 * time.Minute},
		{8, time.Hour},
		{12, time.Hour},
		{1000, time.Hour},
	}
	for _, tt := range tests {
		if got := backoff(tt.attempt, DefaultBackoffBase, DefaultBackoffMax, 0); got != tt.want {
			t.Errorf("attempt %d without jitter: got %v, want %v", tt.attempt, got, tt.want)
		}
		got := backoff(tt.attempt, DefaultBackoffBase, DefaultBackoffMax, 0.999)
		if lo := tt.want * 4 / 5; got < lo || got > tt.want {
			t.Errorf("attempt %d with jitter: got %v, want %v to %v", tt.attempt, got, lo, tt.want)
		}
	}
}

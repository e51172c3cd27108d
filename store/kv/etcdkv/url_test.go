//go:build etcd

package etcdkv

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/salesos/portal/store/kv"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Config
		wantErr string
	}{
		{name: "one host", in: "etcd://127.0.0.1:2379",
			want: Config{Endpoints: []string{"http://127.0.0.1:2379"}}},
		{name: "hosts and prefix", in: "etcd://h1:2379,h2:2379,h3:2379/portal-eu",
			want: Config{Endpoints: []string{"http://h1:2379", "http://h2:2379", "http://h3:2379"}, Prefix: "/portal-eu/"}},
		{name: "user and tls", in: "etcd://app:s%40cret@h1:2379/p/q/?ca=/etc/ca.pem&cert=/etc/c.pem&key=/etc/k.pem",
			want: Config{Endpoints: []string{"https://h1:2379"}, Username: "app", Password: "s@cret", Prefix: "/p/q/",
				CAFile: "/etc/ca.pem", CertFile: "/etc/c.pem", KeyFile: "/etc/k.pem"}},
		{name: "etcds", in: "etcds://h1:2379",
			want: Config{Endpoints: []string{"https://h1:2379"}}},
		{name: "limits", in: "etcd://h1:2379?dial_timeout=2s&request_timeout=750ms&max_txn_ops=1024&max_request_bytes=10485760",
			want: Config{Endpoints: []string{"http://h1:2379"}, DialTimeout: 2 * time.Second, RequestTimeout: 750 * time.Millisecond,
				MaxTxnOps: 1024, MaxRequestBytes: 10 << 20}},
		{name: "wrong scheme", in: "http://h1:2379", wantErr: "want etcd://"},
		{name: "no port", in: "etcd://h1", wantErr: "want host:port"},
		{name: "empty host", in: "etcd://h1:2379,,h2:2379", wantErr: "want host:port"},
		{name: "bad duration", in: "etcd://h1:2379?request_timeout=soon", wantErr: "positive duration"},
		{name: "bad limit", in: "etcd://h1:2379?max_txn_ops=2", wantErr: "at least 16"},
		{name: "unknown parameter", in: "etcd://h1:2379?tls=yes", wantErr: `unknown parameter "tls"`},
		{name: "password kept out of errors", in: "etcd://app:hunter2@h1?x=1", wantErr: "app:xxxxx@h1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseURL(f *testing.F) {
	f.Add("etcd://a:s@h1:2379,h2:2379/p?ca=x&request_timeout=1s")
	f.Add("etcds://h:1/%zz")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := ParseURL(s)
		if err == nil && len(cfg.Endpoints) == 0 {
			t.Fatalf("%q: no error and no endpoints", s)
		}
	})
}

func TestMapErr(t *testing.T) {
	tests := []struct {
		err  error
		want error
	}{
		{context.DeadlineExceeded, kv.ErrUnavailable},
		{fmt.Errorf("get: %w", context.Canceled), kv.ErrUnavailable},
		{rpctypes.ErrNoLeader, kv.ErrUnavailable},
		{rpctypes.ErrTimeout, kv.ErrUnavailable},
		{rpctypes.ErrTimeoutDueToLeaderFail, kv.ErrUnavailable},
		{status.Error(codes.Unavailable, "connection refused"), kv.ErrUnavailable},
		{rpctypes.ErrTooManyOps, kv.ErrTooLarge},
		{rpctypes.ErrRequestTooLarge, kv.ErrTooLarge},
		{rpctypes.ErrCompacted, rpctypes.ErrCompacted},
	}
	for _, tt := range tests {
		if got := mapErr(tt.err); !errors.Is(got, tt.want) {
			t.Errorf("mapErr(%v): got %v, want %v", tt.err, got, tt.want)
		}
	}
	if other := errors.New("other"); mapErr(other) != other {
		t.Error("mapErr changed an unrelated error")
	}
}

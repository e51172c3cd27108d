package crashtest

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
	"github.com/salesos/portal/webhook"
)

const (
	webhookChildEnv  = "CRASHTEST_WEBHOOK_DB"
	webhookModeEnv   = "CRASHTEST_WEBHOOK_MODE"
	webhookURLEnv    = "CRASHTEST_WEBHOOK_URL"
	webhookChildTest = "^TestCrash_WebhookKillNine$"
)

// webhookPolicy lets the child reach the receiver on loopback.
var webhookPolicy = data.WebhookPolicy{HTTPHosts: []string{"*"}, AllowPrivate: true}

// TestCrash_WebhookKillNine kills with SIGKILL, first a process that has
// just committed a change with its webhook event (before any sender ran),
// then a sender whose attempt has reached the receiver but not been
// answered. A sender on the reopened file then delivers the event, signed,
// with the same webhook-id: nothing is lost between commit and send, and a
// delivery cut short is sent again.
func TestCrash_WebhookKillNine(t *testing.T) {
	if path := os.Getenv(webhookChildEnv); path != "" {
		runWebhookChild(t, path, os.Getenv(webhookModeEnv), os.Getenv(webhookURLEnv))
		return
	}
	if testing.Short() {
		t.Skip("runs children and kills them: skipped with -short")
	}
	dbPath := filepath.Join(t.TempDir(), "portal.db")
	type hit struct {
		id, ts, sig string
		body        []byte
	}
	hits := make(chan hit, 10)
	release := make(chan struct{})
	var once sync.Once
	first := true
	var mu sync.Mutex
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hits <- hit{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body}
		mu.Lock()
		hold := first
		first = false
		mu.Unlock()
		if hold {
			<-release // the first attempt never gets its answer: its sender is killed
		}
	}))
	t.Cleanup(func() {
		once.Do(func() { close(release) })
		rcv.Close()
	})

	// 1. A change committed with its event, then kill -9 before any send.
	secret := killChild(t, dbPath, "commit", rcv.URL, func(line string) bool { return strings.HasPrefix(line, "committed ") })
	secret = strings.TrimPrefix(secret, "committed ")
	checkWebhookFile(t, dbPath, "after the kill that followed the commit")

	// 2. A sender killed while its attempt waits for the receiver's answer.
	var firstHit hit
	killChildWhen(t, dbPath, "send", rcv.URL, func() { firstHit = <-hits })
	checkWebhookFile(t, dbPath, "after the kill during the attempt")

	// 3. A sender on the reopened file delivers the event again.
	db, err := store.Open(dbPath, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := webhook.NewSender(db, nil, nil, webhookPolicy)
	recorded := make(chan data.WebhookDelivery, 1)
	s.Observe = func(_ store.WebhookAttempt, d data.WebhookDelivery) { recorded <- d }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var again hit
	select {
	case again = <-hits:
	case <-time.After(30 * time.Second):
		t.Fatal("the event was not delivered after the restart")
	}
	if again.id != firstHit.id || again.id == "" || string(again.body) != string(firstHit.body) {
		t.Errorf("got webhook-id %q, want the interrupted attempt's %q with the same body", again.id, firstHit.id)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(again.id + "." + again.ts + "." + string(again.body)))
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); !strings.Contains(again.sig, want) {
		t.Errorf("got signature %q, want %q", again.sig, want)
	}
	if !strings.Contains(string(again.body), "Committed before the kill") {
		t.Errorf("got %s, want the event of the committed change", again.body)
	}
	select {
	case d := <-recorded:
		if d.Status != data.WebhookSucceeded {
			t.Errorf("got %+v, want succeeded", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery was not recorded")
	}
}

func checkWebhookFile(t *testing.T, path, when string) {
	t.Helper()
	r, err := store.Check(path)
	if err != nil || !r.OK() {
		t.Fatalf("check %s: %v, %v", when, err, r.Breaches)
	}
}

// startChild runs the test binary as the child in mode, with its stdout
// readable line by line.
func startChild(t *testing.T, path, mode, url string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", webhookChildTest, "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), webhookChildEnv+"="+path, webhookModeEnv+"="+mode, webhookURLEnv+"="+url)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

// killChild kills the child once it prints a line for which ready is true,
// and returns that line.
func killChild(t *testing.T, path, mode, url string, ready func(string) bool) string {
	t.Helper()
	cmd, lines := startChild(t, path, mode, url)
	for lines.Scan() {
		if line := lines.Text(); ready(line) {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			return line
		}
	}
	_ = cmd.Wait()
	t.Fatalf("child %s exited before it was ready", mode)
	return ""
}

// killChildWhen kills the child once wait returns.
func killChildWhen(t *testing.T, path, mode, url string, wait func()) {
	t.Helper()
	cmd, lines := startChild(t, path, mode, url)
	go func() {
		for lines.Scan() {
		}
	}()
	wait()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// runWebhookChild is the child. In mode commit it registers a webhook,
// commits a change that queues its event, prints the secret and waits to
// be killed; in mode send it runs a sender until killed.
func runWebhookChild(t *testing.T, path, mode, url string) {
	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	switch mode {
	case "commit":
		_, secret, err := db.CreateWebhook(ctx, org, "crash", data.Webhook{URL: url,
			EventTypes: []string{data.EventPortalConfigUpdated}, Enabled: true}, webhookPolicy)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.UpdateConfig(ctx, org, "crash", func(c data.Config) (data.Config, error) {
			c.PortalName = "Committed before the kill"
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("committed " + secret + "\n")
	case "send":
		s := webhook.NewSender(db, nil, nil, webhookPolicy)
		go func() { _ = s.Run(ctx) }()
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	<-time.After(10 * time.Minute) // killed long before
}

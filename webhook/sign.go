// Package webhook delivers the portal's outbound webhooks: it reads due
// deliveries from the store's webhook queue, signs each as the Standard
// Webhooks specification says, sends it over a client that refuses
// non-public addresses at connect time, and records the outcome, retrying
// failures with exponential backoff and jitter for up to three days.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/salesos/portal/data"
)

// Headers of the Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretKey is the HMAC key of a whsec_ secret: the base64-decoded bytes
// after the prefix.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, data.WebhookSecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook secret is not whsec_ and base64")
	}
	return key, nil
}

// Sign returns the webhook-signature header of a message: for each secret,
// "v1," and the base64 HMAC-SHA256 of "id.timestamp.body" keyed with the
// secret's bytes, separated by spaces.
func Sign(secrets []string, id string, at time.Time, body []byte) (string, error) {
	ts := strconv.FormatInt(at.Unix(), 10)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return "", err
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

package auth

import (
	"bytes"
	"strings"
	"testing"
)

func TestOperator_Check(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{0xA5}, 32)
	op, err := NewOperator(secret)
	if err != nil {
		t.Fatal(err)
	}
	tok := OperatorToken(secret)
	tests := []struct {
		name  string
		token string
		want  bool
	}{
		{"the token", tok, true},
		{"empty", "", false},
		{"prefix only", OperatorTokenPrefix, false},
		{"one character off", tok[:len(tok)-1] + "B", false},
		{"longer", tok + "A", false},
		{"shorter", tok[:len(tok)-1], false},
		{"the secret without the prefix", strings.TrimPrefix(tok, OperatorTokenPrefix), false},
		{"another secret's token", OperatorToken(bytes.Repeat([]byte{0x5A}, 32)), false},
		{"a JWT", "eyJhbGciOiJIUzI1NiJ9.e30.x", false},
	}
	for _, tt := range tests {
		if got := op.Check(tt.token); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	var none *Operator
	if none.Check(tok) {
		t.Error("nil Operator: got true, want every token refused")
	}
	if _, err := NewOperator(secret[:31]); err == nil {
		t.Error("31-byte secret: got nil error, want one")
	}
}

package mailpit_test

import (
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/mailpit"
)

// send delivers one plain message through addr.
func send(addr, to, subject, body string) error {
	msg := "From: test@example.com\r\nTo: " + to + "\r\nSubject: " + subject + "\r\n\r\n" + body + "\r\n"
	return smtp.SendMail(addr, nil, "test@example.com", []string{to}, []byte(msg))
}

func TestRoundTripStopRestart(t *testing.T) {
	mp := mailpit.Start(t)
	if err := send(mp.SMTPAddr, "alice@example.com", "first", "hello alice"); err != nil {
		t.Fatalf("sending: %v", err)
	}
	ms := mp.WaitFor(1, 10*time.Second)
	if len(ms) != 1 || ms[0].Subject != "first" || len(ms[0].To) != 1 || ms[0].To[0].Address != "alice@example.com" {
		t.Fatalf("messages = %+v, want the one sent to alice", ms)
	}
	if m := mp.MustMessage(ms[0].ID); !strings.Contains(m.Text, "hello alice") {
		t.Errorf("text = %q, want the body", m.Text)
	}

	mp.Stop()
	if err := send(mp.SMTPAddr, "bob@example.com", "down", "x"); err == nil {
		t.Fatal("sending to a stopped Mailpit succeeded")
	}
	mp.Restart()
	if got := mp.MustMessages(); len(got) != 1 {
		t.Fatalf("after restart: %d messages, want the 1 kept", len(got))
	}
	if err := send(mp.SMTPAddr, "bob@example.com", "second", "x"); err != nil {
		t.Fatalf("sending after restart: %v", err)
	}
	if got := mp.WaitFor(2, 10*time.Second); len(got) != 2 {
		t.Fatalf("%d messages, want 2", len(got))
	}
	if err := mp.DeleteAll(); err != nil {
		t.Fatal(err)
	}
	if got := mp.MustMessages(); len(got) != 0 {
		t.Fatalf("after DeleteAll: %d messages", len(got))
	}
}

package postgres_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/postgres"
)

func TestRedactDSN(t *testing.T) {
	const pw = "s3cr3t-Pa55"
	cases := []struct{ in, want string }{
		{"postgres://alice:" + pw + "@db.example:5432/tg?sslmode=require",
			"postgres://alice:xxxxx@db.example:5432/tg?sslmode=require"},
		{"postgresql://alice:" + pw + "@db1,db2/tg", "postgresql://alice:xxxxx@db1,db2/tg"},
		{"postgres://alice:p%40ss%2Fword@h/db", "postgres://alice:xxxxx@h/db"},
		{"postgres://alice:pa@ss@h/db", "postgres://alice:xxxxx@h/db"},
		{"postgres://alice:pa/ss@h/db", "postgres://alice:xxxxx@h/db"}, // malformed: '/' unescaped
		{"postgres://h/db?user=alice&password=" + pw + "&sslmode=disable",
			"postgres://h/db?user=alice&password=xxxxx&sslmode=disable"},
		{"postgres://alice@h/db", "postgres://alice@h/db"},
		{"postgres://h:5432/db", "postgres://h:5432/db"},
		{"host=h user=alice password=" + pw + " dbname=tg", "host=h user=alice password=xxxxx dbname=tg"},
		{"host=h password = '" + pw + " with spaces' dbname=tg", "host=h password = xxxxx dbname=tg"},
		{`host=h password='it\'s ` + pw + `' sslmode=disable`, "host=h password=xxxxx sslmode=disable"},
		{"PASSWORD=" + pw, "PASSWORD=xxxxx"},
		{"host=h dbname=tg", "host=h dbname=tg"},
		{"", ""},
	}
	for _, c := range cases {
		got := postgres.RedactDSN(c.in)
		if got != c.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", c.in, got, c.want)
		}
		for _, secret := range []string{pw, "p%40ss", "p@ss", "pa@ss", "pa/ss"} {
			if strings.Contains(c.in, secret) && strings.Contains(got, secret) {
				t.Errorf("RedactDSN(%q) = %q still contains %q", c.in, got, secret)
			}
		}
	}
}

// closedPort returns a local TCP port on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// TestOpenErrorsHideThePassword opens DSNs with a password that fail in
// several ways: no error text may contain the password.
func TestOpenErrorsHideThePassword(t *testing.T) {
	const pw = "Hunter2-very-secret"
	port := closedPort(t)
	cases := []struct {
		dsn  string
		kind error
	}{
		{"postgres://alice:" + pw + "@127.0.0.1:" + port + "/tg?sslmode=disable&connect_timeout=2", token.ErrUnavailable},
		{"host=127.0.0.1 port=" + port + " user=alice password=" + pw + " dbname=tg sslmode=disable connect_timeout=2", token.ErrUnavailable},
		{"postgres://alice:" + pw + "@127.0.0.1:notaport/tg", token.ErrInvalidInput},
		{"postgres://alice:" + pw + "@127.0.0.1/tg?connect_timeout=soon", token.ErrInvalidInput},
		{"postgres://alice:" + pw + "@127.0.0.1/tg?sslmode=bogus", token.ErrInvalidInput},
		{"host=127.0.0.1 password='" + pw + " sslmode=bogus", token.ErrInvalidInput},
		{"host=127.0.0.1 password=" + pw + " sslmode=bogus", token.ErrInvalidInput},
		{"postgres://alice:" + pw + "%zz@127.0.0.1/tg", token.ErrInvalidInput},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := postgres.Open(ctx, c.dsn, postgres.Options{})
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) succeeded", postgres.RedactDSN(c.dsn))
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "Hunter2") {
			t.Errorf("Open error contains the password: %v", err)
		}
		if !errors.Is(err, c.kind) {
			t.Errorf("Open(%s): %v, want an error wrapping %q", postgres.RedactDSN(c.dsn), err, c.kind)
		}
		t.Logf("%v", err)
	}
}

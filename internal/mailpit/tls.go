package mailpit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// tlsFiles is the self-signed certificate Mailpit offers for STARTTLS.
type tlsFiles struct {
	pool *x509.CertPool
}

// WithSTARTTLS makes Mailpit offer STARTTLS with a fresh self-signed
// certificate for 127.0.0.1 and require it; TLSConfig trusts it. Without
// WithAuth, any login is accepted.
func WithSTARTTLS() Option { return withTLS("--smtp-require-starttls") }

// WithImplicitTLS makes Mailpit speak TLS from the first byte (as on port
// 465) with a fresh self-signed certificate; TLSConfig trusts it.
func WithImplicitTLS() Option { return withTLS("--smtp-require-tls") }

// withTLS gives Mailpit a self-signed certificate and the flag that
// requires it.
func withTLS(require string) Option {
	return func(s *Server) {
		s.t.Helper()
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			s.t.Fatalf("mailpit: TLS key: %v", err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(time.Now().UnixNano()),
			Subject:               pkix.Name{CommonName: "mailpit test"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
			DNSNames:              []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			s.t.Fatalf("mailpit: TLS certificate: %v", err)
		}
		cert, _ := x509.ParseCertificate(der)
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			s.t.Fatalf("mailpit: TLS key: %v", err)
		}
		certPath, keyPath := filepath.Join(s.dir, "cert.pem"), filepath.Join(s.dir, "key.pem")
		writePEM(s, certPath, "CERTIFICATE", der)
		writePEM(s, keyPath, "EC PRIVATE KEY", keyDER)
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		s.tls = &tlsFiles{pool: pool}
		s.args = append(s.args, "--smtp-tls-cert", certPath, "--smtp-tls-key", keyPath, require)
	}
}

// WithAuth makes Mailpit accept only the login user/password.
func WithAuth(user, password string) Option {
	return func(s *Server) {
		s.t.Helper()
		p := filepath.Join(s.dir, "smtp-auth")
		if err := os.WriteFile(p, []byte(user+":"+password+"\n"), 0o600); err != nil {
			s.t.Fatalf("mailpit: auth file: %v", err)
		}
		s.auth = true
		s.args = append(s.args, "--smtp-auth-file", p)
	}
}

func writePEM(s *Server, path, kind string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		s.t.Fatalf("mailpit: writing %s: %v", path, err)
	}
}

// TLSConfig returns a client configuration that trusts the certificate of
// WithSTARTTLS (nil without it).
func (s *Server) TLSConfig(serverName string) *tls.Config {
	if s.tls == nil {
		return nil
	}
	return &tls.Config{ServerName: serverName, RootCAs: s.tls.pool, MinVersion: tls.VersionTLS12}
}

package mailpit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Address is a mail address as the API reports it.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Summary is one message in the list (GET /api/v1/messages).
type Summary struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
	Created   time.Time `json:"Created"`
	Snippet   string    `json:"Snippet"`
}

// Message is one message in full (GET /api/v1/message/{ID}).
type Message struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
	Date      time.Time `json:"Date"`
	Text      string    `json:"Text"`
	HTML      string    `json:"HTML"`
}

// Messages returns every stored message, newest first.
func (s *Server) Messages() ([]Summary, error) {
	var out []Summary
	for start := 0; ; {
		var page struct {
			Total    int       `json:"total"`
			Messages []Summary `json:"messages"`
		}
		q := url.Values{"start": {fmt.Sprint(start)}, "limit": {"500"}}
		if err := s.do(http.MethodGet, "/api/v1/messages?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Messages...)
		start += len(page.Messages)
		if len(page.Messages) == 0 || start >= page.Total {
			return out, nil
		}
	}
}

// Message returns the message with the list ID id.
func (s *Server) Message(id string) (Message, error) {
	var m Message
	err := s.do(http.MethodGet, "/api/v1/message/"+url.PathEscape(id), nil, &m)
	return m, err
}

// Headers returns the headers of the message with the list ID id.
func (s *Server) Headers(id string) (map[string][]string, error) {
	var h map[string][]string
	err := s.do(http.MethodGet, "/api/v1/message/"+url.PathEscape(id)+"/headers", nil, &h)
	return h, err
}

// DeleteAll deletes every stored message.
func (s *Server) DeleteAll() error {
	return s.do(http.MethodDelete, "/api/v1/messages", strings.NewReader("{}"), nil)
}

// MustMessages is Messages failing the test on error.
func (s *Server) MustMessages() []Summary {
	s.t.Helper()
	ms, err := s.Messages()
	if err != nil {
		s.t.Fatalf("mailpit: listing messages: %v", err)
	}
	return ms
}

// MustMessage is Message failing the test on error.
func (s *Server) MustMessage(id string) Message {
	s.t.Helper()
	m, err := s.Message(id)
	if err != nil {
		s.t.Fatalf("mailpit: reading message %s: %v", id, err)
	}
	return m
}

// WaitFor polls until at least n messages are stored or timeout passes and
// returns what is stored then (the caller checks the count: a test of
// "exactly one" waits for one, then checks that no second one follows the
// work it waits on).
func (s *Server) WaitFor(n int, timeout time.Duration) []Summary {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ms := s.MustMessages()
		if len(ms) >= n || time.Now().After(deadline) {
			return ms
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// do calls the API and decodes a JSON answer into out (unless nil).
func (s *Server) do(method, path string, body io.Reader, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.APIURL+path, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("mailpit %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("mailpit %s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("mailpit %s %s: decoding answer: %w", method, path, err)
	}
	return nil
}

package portal

import (
	"net/http"
	"slices"
)

// noticesView says on the page where the person's expiry warnings and
// rejection alerts go.
type noticesView struct {
	Address string // mail address, "" without mail
	Webhook bool   // the operator's webhook gets them too
}

// On reports whether any channel is configured.
func (v noticesView) On() bool { return v.Address != "" || v.Webhook }

func (h *Handler) noticesOf(who string) noticesView {
	if h.notices == nil {
		return noticesView{}
	}
	addr, channels := h.notices(who)
	return noticesView{Address: addr, Webhook: slices.Contains(channels, "webhook")}
}

// replaceRequest reads the ?replace=<token id> that notification messages
// link to: the id when it names one of rows (which is then given its
// Replace button, whatever its status), gone when it names none.
func replaceRequest(r *http.Request, rows []rowView) (id string, gone bool) {
	id = r.URL.Query().Get("replace")
	if id == "" {
		return "", false
	}
	for i := range rows {
		if rows[i].ID == id {
			rows[i].Replaceable = true
			return id, false
		}
	}
	return "", true
}

// Package notify tells token owners before their Power BI refreshes break:
// expiry warnings and rejection alerts, by mail (SMTP) and by signed
// webhook, each sent once per token and event across all instances and
// restarts.
//
// # Once, everywhere
//
// Every notice is claimed in the store before it is sent
// (token.NoticeStore: one row per token and kind — "expiring:7d",
// "expired", "rejected" — inserted atomically). Only the instance whose
// claim succeeds sends; it marks the notice sent when any channel delivered
// it and releases the claim when none did, so the next scan tries again.
// An instance that dies between claim and send leaves a claim that another
// instance takes over after the lease (5 minutes). A scan runs at Start and
// every ScanInterval (10 minutes), so a warning that fell due while every
// instance was down goes out at the next start.
//
// # Expiry warnings
//
// For a token that expires within the largest lead (default 7d and 1d),
// one warning per lead: the smallest lead that covers the remaining time
// (a token 12 hours from expiry gets the 1d warning only, and the 7d one
// is marked superseded, never sent afterwards). At expiry, one "has
// expired" message, if the expiry is at most ExpiredWindow (7 days) ago.
// Revoked tokens and tokens without expiry get none.
//
// Mail texts (subject, then body; remaining time rounded to days, or hours
// below two days):
//
//	Your tokengate token 'Sprint dashboard' expires in 6 days
//
//	Your access token 'Sprint dashboard' expires on 2030-03-16 09:30 UTC (in 6 days).
//
//	When it expires, Power BI refreshes that use it will fail with "credentials are invalid".
//	Create a new token and paste it into the data source settings before then.
//
//	Your tokengate token 'Sprint dashboard' has expired
//
//	Your access token 'Sprint dashboard' has expired on 2030-03-16 09:30 UTC.
//
//	Power BI refreshes that use it now fail with "credentials are invalid".
//	Create a new token and paste it into the data source settings.
//
// # Rejection alerts
//
// When one token's refused attempts for the reasons the token page lists
// (expired, revoked, ip_not_allowed) reach RejectionCount within
// RejectionWindow, one alert to its owner — at most one per token per
// window. The validator hands every stored batch to Rejected
// (token.ValidatorConfig.OnRejectionsStored); Rejected never blocks. The
// write-behind stores identical attempts (token, IP, agent, reason) of one
// flush interval as one rejection with their Count, and the alert sums the
// counts: Power BI retrying a revoked token three times within seconds is
// three attempts. Texts:
//
//	Your tokengate token 'Sprint dashboard' was refused 3 times
//
//	Power BI (agent Microsoft.Data.Mashup, IP 203.0.113.7) is still using your revoked token 'Sprint dashboard'.
//
//	It was refused 3 times within 1h, the last time at 2030-03-10 09:31 UTC.
//	Power BI disables a scheduled refresh after four failures: give it a valid token.
//
// The first line per reason: "… is still using your expired token '…'",
// "… is using your token '…' from an address it is not allowed from";
// "Power BI" when the user agent is Power BI's (Microsoft.Data.Mashup,
// PowerBI), "A client" otherwise. Every body ends with the token's label
// (warnings: and hint …abcd and expiry in UTC) and, with PageURL, the link PageURL + "?replace=" + token id, which opens the
// token page's Replace action for that token:
//
//	Token:   Sprint dashboard (…abcd)
//	Expires: 2030-03-16 09:30 UTC
//
//	Replace it on the token page:
//	https://tokens.example.com/tokens/?replace=<token id>
//
// An ip_not_allowed alert says "Use the token from an allowed address, or
// create a token for this one." instead of the line about four failures.
//
// # Webhook
//
// A JSON POST (see Payload) with the headers Content-Type:
// application/json, X-Tokengate-Event (the event), X-Tokengate-Timestamp
// (unix seconds) and X-Tokengate-Signature: "sha256=" + hex
// HMAC-SHA256(secret, timestamp + "." + body) — see Sign. Receivers
// recompute it and should refuse old timestamps.
//
//	{"event":"token.expiring","owner":"alice","token_id":"…","label":"Sprint dashboard",
//	 "hint":"abcd","expires_at":"2030-03-16T09:30:00Z","lead":"7d"}
//	{"event":"token.expired", … no lead}
//	{"event":"token.rejected","owner":"alice","token_id":"…","label":"Sprint dashboard",
//	 "reason":"revoked","ip":"203.0.113.7","agent":"Microsoft.Data.Mashup","count":3,"window":"1h"}
//
// # Delivery
//
// One bounded queue (256) and worker per channel: a mail server that is
// down never holds up webhooks, a request, or token validation. A failed
// attempt is retried after 2, 4, 8, 16 and 32 s (six attempts, well inside
// the lease); a webhook's 4xx answer (but 429), an SMTP 5xx answer and an
// owner that does not make a mail address are final. The Observer counts
// deliveries, retries, failures and drops by channel and event; OnError
// gets failures — never a password, webhook secret or webhook URL path.
package notify

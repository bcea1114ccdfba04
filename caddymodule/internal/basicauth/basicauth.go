// Package basicauth builds HTTP Basic credentials for tokengate's tests.
package basicauth

import "encoding/base64"

// Header returns the Authorization header value of a Basic credential:
// "Basic " and base64 of user:pass (RFC 7617), the way Power BI sends a
// user id and a token.
func Header(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

package kemi

// Results of the digest authentication functions, as Kamailio's auth API
// gives them to the script (auth_cfg_result_t), so that a script can tell
// why a request was refused.
const (
	AuthOK              = 1  // the credentials are valid
	AuthError           = -1 // an error: malformed or forged credentials, a database error
	AuthInvalidPassword = -2 // the response does not match the password
	AuthUserUnknown     = -3 // no such subscriber
	AuthStaleNonce      = -4 // the nonce expired or its nonce count was seen: challenge again with stale=true
	AuthNoCredentials   = -5 // no credentials for the realm
	AuthNonceReused     = -6 // a one-time nonce was used again
	AuthUserMismatch    = -8 // the authentication user is not the From/To user
)

// HA1Func returns the HA1 of the credentials cred for the digest
// algorithm alg ("MD5" or "SHA-256"), or a result other than AuthOK:
// AuthUserUnknown when there is no such user, AuthError when the
// database failed. An authentication backend (auth_db) gives one to
// DigestAuth.Authenticate.
type HA1Func func(cred *Digest, alg string) (ha1 string, result int)

// DigestAuth is what the auth module publishes under ServiceAuth besides
// AuthorizedUser: Kamailio's auth API (pre_auth, check_response,
// post_auth) reduced to one call, for the backends that know the
// passwords.
type DigestAuth interface {
	AuthorizedUser
	// Authenticate checks the Digest credentials of m for realm: those of
	// its Authorization headers when www is set, else of its
	// Proxy-Authorization headers; method is the method the response
	// was computed with. The nonce is checked first, then lookup gives
	// the HA1. It returns one of the Auth results and counts failures.
	Authenticate(m *Msg, realm, method string, www bool, lookup HA1Func) int
	// CheckUser compares the user of the credentials Authenticate
	// accepted with the From user (the To user for REGISTER and PUBLISH,
	// whose From and To must then agree, domains too with useDomain), as
	// Kamailio's auth_check flag 1. With skipFwd set, INVITE, BYE, PRACK,
	// UPDATE and MESSAGE are not compared (auth_check flag 2). It returns
	// AuthOK, AuthUserMismatch or AuthError.
	CheckUser(m *Msg, skipFwd, useDomain bool) int
	// HA1 computes H(username:realm:password) with algorithm alg.
	HA1(alg, username, realm, password string) string
}

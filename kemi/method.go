package kemi

import "strings"

// StandardMethods are the request methods Kamailio knows by id
// (METHOD_INVITE and the others), in upper case. Callers must not change
// the slice.
var StandardMethods = []string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "SUBSCRIBE",
	"PUBLISH", "NOTIFY", "REFER", "INFO", "UPDATE", "PRACK", "MESSAGE", "KDMQ", "GET", "POST", "PUT", "DELETE"}

// IsStandardMethod reports whether name is one of StandardMethods, in any
// case.
func IsStandardMethod(name string) bool {
	for _, s := range StandardMethods {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

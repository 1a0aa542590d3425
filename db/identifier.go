package db

// ValidIdentifier reports whether name can be used as a table or column
// name in SQL text: an ASCII letter or '_', then letters, digits and '_',
// at most 64 in all. Names that go into a statement are checked with it
// because SQL cannot take them as parameters.
func ValidIdentifier(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

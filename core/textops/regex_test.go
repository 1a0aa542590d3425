package textops

import (
	"fmt"
	"sync"
	"testing"
)

func TestCompileRE(t *testing.T) {
	text := "From: bob\r\n@x\r\nTo: Alice\r\n"
	tests := []struct {
		pat  string
		fl   reFlags
		want string // first match, "-" for none
	}{
		{"^to: .*$", reICase | reNewline, "To: Alice\r"},
		{"^to: .*$", reNewline, "-"},
		{"^To", 0, "-"},               // without REG_NEWLINE '^' is the start of the text only
		{"bob[^@]*@", reNewline, "-"}, // a non-matching list does not match a newline
		{"bob[^@]*@", 0, "bob\r\n@"},  // without REG_NEWLINE it does
		{"bob.*@", reNewline, "-"},    // neither does '.'
		{"bob.*@", 0, "bob\r\n@"},
		{"(a|ab)(c|bcd)", 0, "-"},              // no such text
		{"[[:upper:]][[:lower:]]+", 0, "From"}, // POSIX classes
		{"x{1,2}", 0, "x"},                     // intervals
		{"b(o)b", reICase, "bob"},
		{"Alice|Al", 0, "Alice"},           // leftmost-longest
		{`\bTo\b`, reNewline, "To"},        // Perl escapes are accepted
		{`[[:space:]]@`, reNewline, "\n@"}, // a matching list still matches a newline
		{"^$", reNewline, ""},              // after the last newline, at the end of the text
		{"m$", reNewline | reICase, "-"},   // '$' is before "\n", not "\r\n"
		{"X\r$", reNewline | reICase, "x\r"},
		{"(?i)from", 0, "From"}, // Go flag syntax passes through
		{"[a-c]+b", 0, "-"},
		{"o(b|bob)", 0, "ob"},
		{"Al(i|ic)e?", 0, "Alice"}, // longest alternative
		{"[0-9]*", 0, ""},          // an empty match is a match
		{`\.`, 0, "-"},
		{`F[^[:space:]]*`, reNewline, "From:"},
		{`T[^\n]*`, 0, "To: Alice\r"},
		{`a{2}|`, 0, ""},
		{`ob\r\n@`, reNewline, "ob\r\n@"}, // explicit newlines always match
		{`(x)`, reICase, "x"},
		{`@X`, reICase | reNewline, "@x"},
		{`(?s:.)@`, reNewline, "\n@"},
		{`[^b]@`, reNewline, "-"},
		{`[^b]@`, 0, "\n@"},
		{`Alice\r\n$`, reNewline, "Alice\r\n"}, // "$" also matches at the end of the text
		{`Alice\r\n\z`, reNewline, "Alice\r\n"},
		{`^@x\r$`, reNewline, "@x\r"},
		{`bob\r$`, reNewline, "bob\r"},
		{`^From: bob\r$`, 0, "-"},
		{`^From: bob\r\n`, 0, "From: bob\r\n"},
		{`(?m)^To`, 0, "To"},
		{`.+`, 0, text},
		{`.+`, reNewline, "From: bob\r"},
		{`[^x]+`, reNewline, "From: bob\r"},
		{`[^x]+`, 0, "From: bob\r\n@"},
		{`From|From: bob`, 0, "From: bob"},
		{`(From|From: )bob`, 0, "From: bob"},
		{`(F|Fr)(rom|om)`, 0, "From"},
		{`Fr?o?m?:?`, 0, "From:"},
		{`F.*?m`, 0, "From"},
	}
	for _, tc := range tests {
		re, err := compileRE(tc.pat, tc.fl)
		if err != nil {
			t.Errorf("compile %q: %v", tc.pat, err)
			continue
		}
		loc := re.FindStringIndex(text)
		got := "-"
		if loc != nil {
			got = text[loc[0]:loc[1]]
		}
		if got != tc.want {
			t.Errorf("%q flags %d: got %q, want %q", tc.pat, tc.fl, got, tc.want)
		}
	}
	// RE2 has no back-references
	for _, bad := range []string{"a(", "[z-a]", `(a)\1`, "(?<name"} {
		if _, err := compileRE(bad, 0); err == nil {
			t.Errorf("compile %q: no error", bad)
		}
	}
}

func TestRECacheBounded(t *testing.T) {
	c := newRECache(8)
	for i := 0; i < 100; i++ {
		if _, err := c.get(fmt.Sprintf("x%d", i), 0); err != nil {
			t.Fatal(err)
		}
		if n := c.len(); n > 8 {
			t.Fatalf("cache holds %d entries, limit 8", n)
		}
	}
	// an expression in steady use stays cached
	re1, _ := c.get("hot", reICase)
	for i := 0; i < 100; i++ {
		c.get(fmt.Sprintf("y%d", i), 0)
		if re, _ := c.get("hot", reICase); re != re1 {
			t.Fatal("hot expression was evicted")
		}
	}
	// flags are part of the key
	a, _ := c.get("k", 0)
	b, _ := c.get("k", reICase)
	if a == b {
		t.Error("same compiled expression for different flags")
	}
	// errors are cached too
	if _, err := c.get("(", 0); err == nil {
		t.Error("no error for (")
	}
	if _, err := c.get("(", 0); err == nil {
		t.Error("cached error lost")
	}
}

func TestRECacheConcurrent(t *testing.T) {
	c := newRECache(16)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				pat := fmt.Sprintf("a%d", (g*7+i)%40)
				re, err := c.get(pat, reNewline)
				if err != nil || !re.MatchString(pat) {
					t.Errorf("%q: %v", pat, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if n := c.len(); n > 16 {
		t.Errorf("cache holds %d entries, limit 16", n)
	}
}

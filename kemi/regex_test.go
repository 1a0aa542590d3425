package kemi

import (
	"fmt"
	"sync"
	"testing"
)

func TestCompileRegex(t *testing.T) {
	text := "From: bob\r\n@x\r\nTo: Alice\r\n"
	tests := []struct {
		pat  string
		fl   RegexFlags
		want string // first match, "-" for none
	}{
		{"^to: .*$", RegexICase | RegexNewline, "To: Alice\r"},
		{"^to: .*$", RegexNewline, "-"},
		{"^To", 0, "-"},                  // without REG_NEWLINE '^' is the start of the text only
		{"bob[^@]*@", RegexNewline, "-"}, // a non-matching list does not match a newline
		{"bob[^@]*@", 0, "bob\r\n@"},     // without REG_NEWLINE it does
		{"bob.*@", RegexNewline, "-"},    // neither does '.'
		{"bob.*@", 0, "bob\r\n@"},
		{"(a|ab)(c|bcd)", 0, "-"},              // no such text
		{"[[:upper:]][[:lower:]]+", 0, "From"}, // POSIX classes
		{"x{1,2}", 0, "x"},                     // intervals
		{"b(o)b", RegexICase, "bob"},
		{"Al|Alice", 0, "Alice"},               // leftmost-longest, not the first alternative
		{`\bTo\b`, RegexNewline, "To"},         // Perl escapes are accepted
		{`[[:space:]]@`, RegexNewline, "\n@"},  // a matching list still matches a newline
		{"^$", RegexNewline, ""},               // after the last newline, at the end of the text
		{"m$", RegexNewline | RegexICase, "-"}, // '$' is before "\n", not "\r\n"
		{"X\r$", RegexNewline | RegexICase, "x\r"},
		{"(?i)from", 0, "From"}, // Go flag syntax passes through
		{"[a-c]+b", 0, "-"},
		{"(Fr|From: b)(om|ob)", 0, "From: bob"},
		{"Al(i|ic)e?", 0, "Alice"}, // longest alternative
		{"[0-9]*", 0, ""},          // an empty match is a match
		{`\.`, 0, "-"},
		{`F[^[:space:]]*`, RegexNewline, "From:"},
		{`T[^\n]*`, 0, "To: Alice\r"},
		{`a{2}|`, 0, ""},
		{`ob\r\n@`, RegexNewline, "ob\r\n@"}, // explicit newlines always match
		{`(x)`, RegexICase, "x"},
		{`@X`, RegexICase | RegexNewline, "@x"},
		{`(?s:.)@`, RegexNewline, "\n@"},
		{`[^b]@`, RegexNewline, "-"},
		{`[^b]@`, 0, "\n@"},
		{`Alice\r\n$`, RegexNewline, "Alice\r\n"}, // "$" also matches at the end of the text
		{`Alice\r\n\z`, RegexNewline, "Alice\r\n"},
		{`^@x\r$`, RegexNewline, "@x\r"},
		{`bob\r$`, RegexNewline, "bob\r"},
		{`^From: bob\r$`, 0, "-"},
		{`^From: bob\r\n`, 0, "From: bob\r\n"},
		{`(?m)^To`, 0, "To"},
		{`.+`, 0, text},
		{`.+`, RegexNewline, "From: bob\r"},
		{`[^x]+`, RegexNewline, "From: bob\r"},
		{`[^x]+`, 0, "From: bob\r\n@"},
		{`From|From: bob`, 0, "From: bob"},
		{`(From|From: )bob`, 0, "From: bob"},
		{`(F|Fr)(rom|om)`, 0, "From"},
		{`Fr?o?m?:?`, 0, "From:"},
		{`F.*?m`, 0, "From"},
	}
	for _, tc := range tests {
		re, err := CompileRegex(tc.pat, tc.fl)
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
		if _, err := CompileRegex(bad, 0); err == nil {
			t.Errorf("compile %q: no error", bad)
		}
	}
}

func TestRegexCacheBounded(t *testing.T) {
	c := NewRegexCache(8)
	for i := 0; i < 100; i++ {
		if _, err := c.Get(fmt.Sprintf("x%d", i), 0); err != nil {
			t.Fatal(err)
		}
		if n := c.Len(); n > 8 {
			t.Fatalf("cache holds %d entries, limit 8", n)
		}
	}
	// an expression in steady use stays cached
	re1, _ := c.Get("hot", RegexICase)
	for i := 0; i < 100; i++ {
		c.Get(fmt.Sprintf("y%d", i), 0)
		if re, _ := c.Get("hot", RegexICase); re != re1 {
			t.Fatal("hot expression was evicted")
		}
	}
	// flags are part of the key
	a, _ := c.Get("k", 0)
	b, _ := c.Get("k", RegexICase)
	if a == b {
		t.Error("same compiled expression for different flags")
	}
	// errors are cached too
	if _, err := c.Get("(", 0); err == nil {
		t.Error("no error for (")
	}
	if _, err := c.Get("(", 0); err == nil {
		t.Error("cached error lost")
	}
}

func TestRegexCacheConcurrent(t *testing.T) {
	c := NewRegexCache(16)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				pat := fmt.Sprintf("a%d", (g*7+i)%40)
				re, err := c.Get(pat, RegexNewline)
				if err != nil || !re.MatchString(pat) {
					t.Errorf("%q: %v", pat, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if n := c.Len(); n > 16 {
		t.Errorf("cache holds %d entries, limit 16", n)
	}
}

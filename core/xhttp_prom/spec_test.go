package xhttp_prom

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		kind    kind
		def     string
		name    string
		labels  []string
		help    string
		buckets []float64
		err     string
	}{
		{kind: kindCounter, def: "name=cnt_first;", name: "cnt_first"},
		{kind: kindCounter, def: "name=cnt02; label=method:IP;", name: "cnt02", labels: []string{"method", "IP"}},
		{kind: kindCounter, def: "name=cnt_fourth; label=method; help='Total number of SIP requests'", name: "cnt_fourth", labels: []string{"method"}, help: "Total number of SIP requests"},
		{kind: kindGauge, def: `name=gg; help="a; b"`, name: "gg", help: "a; b"},
		{kind: kindGauge, def: " name = gg_third ; label = method:handler ; ", name: "gg_third", labels: []string{"method", "handler"}},
		{kind: kindHistogram, def: "name=my_histo;", name: "my_histo", buckets: defaultBuckets},
		{kind: kindHistogram, def: "name=histo_fourth; label=lbl; buckets=3.1:5:6.5", name: "histo_fourth", labels: []string{"lbl"}, buckets: []float64{3.1, 5, 6.5}},
		{kind: kindHistogram, def: "name=h; buckets=-1:0:1e3", name: "h", buckets: []float64{-1, 0, 1000}},

		{kind: kindCounter, def: "label=a", err: "no name="},
		{kind: kindCounter, def: "", err: "no name="},
		{kind: kindCounter, def: "name=", err: "no name="},
		{kind: kindCounter, def: "name=1abc", err: `name "1abc" is not a Prometheus metric name`},
		{kind: kindCounter, def: "name=a-b", err: `is not a Prometheus metric name`},
		{kind: kindCounter, def: "name=a; label=x:y:z:w", err: "4 labels, at most 3"},
		{kind: kindCounter, def: "name=a; label=x:x", err: "label x given twice"},
		{kind: kindCounter, def: "name=a; label=x::y", err: `label "" is not a Prometheus label name`},
		{kind: kindCounter, def: "name=a; label=my-label", err: `label "my-label" is not`},
		{kind: kindCounter, def: "name=a; label=__x", err: "reserved by Prometheus"},
		{kind: kindCounter, def: "name=a; label=x; label=y", err: "attribute label given twice"},
		{kind: kindCounter, def: "name=a; colour=red", err: `unknown attribute "colour"`},
		{kind: kindCounter, def: "name=a; buckets=1:2", err: "buckets is for histograms only"},
		{kind: kindCounter, def: "name=a; help='oops", err: "unterminated ' quote"},
		{kind: kindCounter, def: "name", err: `attribute "name" has no value`},
		{kind: kindHistogram, def: "name=h; label=le", err: "label le is the histogram's own"},
		{kind: kindHistogram, def: "name=h; buckets=", err: `bucket "" is not a finite number`},
		{kind: kindHistogram, def: "name=h; buckets=1:x", err: `bucket "x" is not a finite number`},
		{kind: kindHistogram, def: "name=h; buckets=1:+Inf", err: `bucket "+Inf" is not a finite number`},
		{kind: kindHistogram, def: "name=h; buckets=2:1", err: "buckets must increase: 1 after 2"},
		{kind: kindHistogram, def: "name=h; buckets=1:1", err: "buckets must increase"},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String()+" "+tt.def, func(t *testing.T) {
			s, err := parseSpec(tt.kind, tt.def)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.name != tt.name || !slices.Equal(s.labels, tt.labels) || s.help != tt.help || !slices.Equal(s.buckets, tt.buckets) || s.kind != tt.kind {
				t.Errorf("got %+v, want name %q labels %q help %q buckets %v", s, tt.name, tt.labels, tt.help, tt.buckets)
			}
		})
	}
}

func TestParseTags(t *testing.T) {
	tests := []struct {
		in   string
		want [][2]string
		err  string
	}{
		{in: "", want: nil},
		{in: "host_job=foo", want: [][2]string{{"host_job", "foo"}}},
		{in: "tag_bar=foo, host_job=wurst", want: [][2]string{{"tag_bar", "foo"}, {"host_job", "wurst"}}},
		{in: "a", err: "has no value"},
		{in: "a-b=1", err: "not a Prometheus label name"},
		{in: "a=1,a=2", err: "tag a given twice"},
	}
	for _, tt := range tests {
		got, err := parseTags(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseTags(%q): error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("parseTags(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestSeriesKeyIsUnambiguous(t *testing.T) {
	pairs := [][2][]string{
		{{"a:b", "c"}, {"a", "b:c"}},
		{{"1:a", "b"}, {"1", ":ab"}},
		{{"ab", "c", "d"}, {"a", "bc", "d"}},
	}
	for _, p := range pairs {
		if k := appendSeriesKey(nil, p[0]); string(k) == string(appendSeriesKey(nil, p[1])) {
			t.Errorf("%q and %q share key %q", p[0], p[1], k)
		}
	}
}

func TestEscapeLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{`a"b`, `a\"b`},
		{`a\b`, `a\\b`},
		{"a\nb", `a\nb`},
		{"a\xffb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		if got := escapeLabel(tt.in); got != tt.want {
			t.Errorf("escapeLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

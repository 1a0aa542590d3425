package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kemisip/kemi/luaext"
	"github.com/kemisip/kemi/luaext/testlib"
	"github.com/urfave/cli/v2"
)

// maxTraceLines bounds the KSR calls printed for a failed test: the last
// ones, nearest the failure.
const maxTraceLines = 40

func testCommand() *cli.Command {
	return &cli.Command{
		Name:      "test",
		Usage:     "run the Lua tests (*_test.lua) of routing scripts, offline",
		ArgsUsage: "[PATH...]",
		Description: "Runs every *_test.lua file under each PATH (a folder, walked, or a file; default .).\n" +
			"A test file names its routing script (T.script) and declares tests (T.test); each test\n" +
			"runs in a fresh engine built in memory with the real modules, and nothing is sent on\n" +
			"the network. See docs/testing.md. Exit status 1 when a test fails.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "run", Usage: "run only the tests whose name matches `REGEXP`"},
			&cli.StringFlag{Name: "junit", Usage: "also write the results as JUnit XML to `FILE`"},
			&cli.BoolFlag{Name: "cover", Usage: "report the share of the routing scripts' lines that ran"},
			&cli.StringFlag{Name: "cover-listing", Usage: "write the routing scripts annotated with the times each line ran to `FILE` (implies --cover)"},
		},
		Action: testAction,
	}
}

func testAction(c *cli.Context) error {
	paths := c.Args().Slice()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	files, err := testFiles(paths)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if len(files) == 0 {
		return cli.Exit("no test files (*_test.lua) in "+strings.Join(paths, " "), exitFailure)
	}
	var opts testlib.Options
	if expr := c.String("run"); expr != "" {
		re, err := regexp.Compile(expr)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--run: %v", err), exitUsage)
		}
		opts.Match = re.MatchString
	}
	cover := c.Bool("cover") || c.String("cover-listing") != ""
	b := newTestBackend(cover)
	start := time.Now()
	var results []*testlib.FileResult
	for _, f := range files {
		res := testlib.RunFile(f, b, opts)
		results = append(results, res)
		printFileResult(c.App.Writer, res)
	}
	failed := printSummary(c.App.Writer, results, time.Since(start))
	if cover {
		covs := b.coverage()
		for _, cv := range covs {
			ran, total := cv.Covered()
			fmt.Fprintf(c.App.Writer, "coverage: %.1f%% of %d lines in %s (%d ran)\n", cv.Percent(), total, cv.Name, ran)
		}
		if p := c.String("cover-listing"); p != "" {
			if err := writeListing(p, covs); err != nil {
				return cli.Exit(fmt.Sprintf("cover listing: %v", err), exitFailure)
			}
		}
	}
	if p := c.String("junit"); p != "" {
		if err := writeJUnit(p, results); err != nil {
			return cli.Exit(fmt.Sprintf("junit: %v", err), exitFailure)
		}
	}
	if failed {
		return cli.Exit("", exitFailure)
	}
	return nil
}

// testFiles finds the test files under paths: folders are walked for
// *_test.lua, files are taken as they are.
func testFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, filepath.Clean(p))
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), "_test.lua") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// printFileResult writes one file's results as go test -v does.
func printFileResult(w io.Writer, res *testlib.FileResult) {
	fmt.Fprintf(w, "=== %s\n", res.Path)
	if res.Err != nil {
		fmt.Fprintf(w, "--- FAIL: %s (%.2fs)\n", res.Path, res.Duration.Seconds())
		printFailure(w, res.Err)
	}
	for _, t := range res.Tests {
		if t.Failure == nil {
			fmt.Fprintf(w, "--- PASS: %s (%.2fs)\n", t.Name, t.Duration.Seconds())
			continue
		}
		fmt.Fprintf(w, "--- FAIL: %s (%.2fs)\n", t.Name, t.Duration.Seconds())
		printFailure(w, t.Failure)
	}
	status := "ok  "
	if res.Failed() {
		status = "FAIL"
	}
	fmt.Fprintf(w, "%s\t%s\t%.3fs\n", status, res.Path, res.Duration.Seconds())
}

// failureText is a failure as printed under its test (without indent).
func failureText(f *testlib.Failure) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", f.Error())
	if f.HasValues {
		fmt.Fprintf(&b, "    expected: %s\n    actual:   %s\n", f.Expected, f.Actual)
	}
	if f.Traceback != "" {
		for _, l := range strings.Split(strings.TrimSpace(f.Traceback), "\n") {
			fmt.Fprintf(&b, "    %s\n", strings.TrimSpace(l))
		}
	}
	if f.Route != "" {
		fmt.Fprintf(&b, "trace of the last message (%s):\n", f.Route)
		trace := f.Trace
		if len(trace) > maxTraceLines {
			fmt.Fprintf(&b, "    ... %d calls before\n", len(trace)-maxTraceLines)
			trace = trace[len(trace)-maxTraceLines:]
		}
		for _, l := range trace {
			fmt.Fprintf(&b, "    %s\n", l)
		}
		if len(f.Trace) == 0 {
			b.WriteString("    (no KSR calls)\n")
		}
		if f.RouteErr != "" {
			fmt.Fprintf(&b, "    route error: %s\n", f.RouteErr)
		}
	}
	return b.String()
}

func printFailure(w io.Writer, f *testlib.Failure) {
	for _, l := range strings.Split(strings.TrimRight(failureText(f), "\n"), "\n") {
		fmt.Fprintf(w, "    %s\n", l)
	}
}

// printSummary writes the totals and reports whether anything failed.
func printSummary(w io.Writer, results []*testlib.FileResult, d time.Duration) bool {
	tests, failed, fileErrs := 0, 0, 0
	for _, r := range results {
		if r.Err != nil {
			fileErrs++
		}
		for _, t := range r.Tests {
			tests++
			if t.Failure != nil {
				failed++
			}
		}
	}
	if failed == 0 && fileErrs == 0 {
		fmt.Fprintf(w, "PASS: %s in %s (%.3fs)\n", plural(tests, "test"), plural(len(results), "file"), d.Seconds())
		return false
	}
	msg := fmt.Sprintf("FAIL: %d of %s failed", failed, plural(tests, "test"))
	if fileErrs > 0 {
		msg += fmt.Sprintf(", %d of %s did not load", fileErrs, plural(len(results), "file"))
	}
	fmt.Fprintf(w, "%s (%.3fs)\n", msg, d.Seconds())
	return true
}

// plural writes n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// writeListing writes every script's annotated listing to path.
func writeListing(path string, covs []*luaext.Coverage) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	for i, c := range covs {
		if i > 0 {
			fmt.Fprintln(f)
		}
		if err := c.WriteListing(f); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// JUnit XML, as Jenkins, GitLab and GitHub's test reporters read it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      string        `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// junitReport builds the report of results.
func junitReport(results []*testlib.FileResult) junitSuites {
	var all junitSuites
	var total time.Duration
	for _, r := range results {
		s := junitSuite{Name: r.Path, Time: seconds(r.Duration), Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05")}
		add := func(name, where string, d time.Duration, f *testlib.Failure) {
			c := junitCase{Name: name, Classname: strings.TrimSuffix(r.Path, ".lua"), Time: seconds(d)}
			if file, line, ok := strings.Cut(where, ":"); ok {
				c.File, c.Line = file, line
			}
			s.Tests++
			if f != nil {
				p := &junitProblem{Message: f.Error(), Text: failureText(f)}
				if f.LuaError {
					p.Type = "error"
					c.Error = p
					s.Errors++
				} else {
					p.Type = "assertion"
					c.Failure = p
					s.Failures++
				}
			}
			s.Cases = append(s.Cases, c)
		}
		if r.Err != nil {
			add(filepath.Base(r.Path), r.Err.Where, r.Duration, r.Err)
		}
		for _, t := range r.Tests {
			add(t.Name, t.Where, t.Duration, t.Failure)
		}
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Errors += s.Errors
		total += r.Duration
		all.Suites = append(all.Suites, s)
	}
	all.Time = seconds(total)
	return all
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// writeJUnit writes the JUnit XML report to path.
func writeJUnit(path string, results []*testlib.FileResult) error {
	b, err := xml.MarshalIndent(junitReport(results), "", "  ")
	if err != nil {
		return err
	}
	out := append([]byte(xml.Header), b...)
	out = append(out, '\n')
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

package docs

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

var update = flag.Bool("update", false, "rewrite every included block from the file it names")

// root is the repository's root, two levels above this package.
var root = "../.."

// maxReadme is the README's size limit in bytes: a front page, not a manual.
const maxReadme = 20000

// documents is every markdown file the test covers, relative to root.
func documents(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no docs/*.md found")
	}
	paths := []string{"README.md", "CONTRIBUTING.md"}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.ToSlash(rel))
	}
	return paths
}

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	includeMarker = regexp.MustCompile(`^<!-- include: (\S+)(?: lines=(\d+)-(\d+))? -->$`)
	endInclude    = "<!-- end include -->"
	// otherMarker is an HTML comment that looks like a marker but is not
	// one this test knows (a typo, or a mechanism that no longer exists):
	// a block behind it would go unchecked.
	otherMarker = regexp.MustCompile(`^<!-- ?(golden|depprobe:file|schemes|/schemes|include|end)\b`)
	fence       = regexp.MustCompile("^(```+)[a-z]*$")
)

// TestIncludes checks that every included block is its file, and with
// -update rewrites the blocks instead.
func TestIncludes(t *testing.T) {
	var total int
	for _, doc := range documents(t) {
		t.Run(doc, func(t *testing.T) {
			text := read(t, doc)
			out, n, errs := expand(text)
			total += n
			for _, err := range errs {
				t.Errorf("%s: %v", doc, err)
			}
			if out == text {
				return
			}
			if *update {
				if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(doc)), []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("rewrote %s", doc)
				return
			}
			t.Errorf("%s: included blocks differ from their files (go test ./internal/docs -update rewrites them):\n%s", doc, diff(text, out))
		})
	}
	if total < 10 {
		t.Errorf("%d include markers in all the docs, want at least 10: the test would prove little", total)
	}
}

// expand returns text with every included block replaced by its file's
// content, and the number of markers.
func expand(text string) (string, int, []error) {
	lines := strings.SplitAfter(text, "\n")
	var (
		out  strings.Builder
		errs []error
		n    int
		code string // the fence of the code block the line is in, if any
	)
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSuffix(lines[i], "\n")
		out.WriteString(lines[i])
		if f := fence.FindStringSubmatch(strings.TrimSpace(line)); f != nil && (code == "" || strings.TrimSpace(line) == code) {
			if code == "" {
				code = f[1]
			} else {
				code = ""
			}
			continue
		}
		if code != "" {
			continue // a marker shown in a code block is an example
		}
		m := includeMarker.FindStringSubmatch(line)
		if m == nil {
			if otherMarker.MatchString(line) && line != endInclude {
				errs = append(errs, fmt.Errorf("line %d: %q is not a marker this test knows (<!-- include: PATH [lines=A-B] -->)", i+1, line))
			}
			continue
		}
		n++
		want, err := source(m[1], m[2], m[3])
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %v", i+1, err))
			continue
		}
		if strings.HasSuffix(m[1], ".md") {
			end := slices.IndexFunc(lines[i+1:], func(l string) bool { return strings.TrimSuffix(l, "\n") == endInclude })
			if end < 0 {
				errs = append(errs, fmt.Errorf("line %d: include of %s has no %s", i+1, m[1], endInclude))
				continue
			}
			out.WriteString(want)
			i += 1 + end
			out.WriteString(lines[i]) // the end marker
			continue
		}
		if i+1 >= len(lines) {
			errs = append(errs, fmt.Errorf("line %d: include of %s is not followed by a code block", i+1, m[1]))
			continue
		}
		open := fence.FindStringSubmatch(strings.TrimSuffix(lines[i+1], "\n"))
		if open == nil {
			errs = append(errs, fmt.Errorf("line %d: include of %s must be followed by a code fence on the next line", i+1, m[1]))
			continue
		}
		closing := slices.IndexFunc(lines[i+2:], func(l string) bool { return strings.TrimSuffix(l, "\n") == open[1] })
		if closing < 0 {
			errs = append(errs, fmt.Errorf("line %d: the code block after the include of %s is not closed", i+1, m[1]))
			continue
		}
		if strings.Contains(want, "\n"+open[1]+"\n") || strings.HasPrefix(want, open[1]+"\n") {
			errs = append(errs, fmt.Errorf("line %d: %s holds a line %s: use a longer fence", i+1, m[1], open[1]))
		}
		out.WriteString(lines[i+1])
		out.WriteString(want)
		i += 2 + closing
		out.WriteString(lines[i]) // the closing fence
	}
	if code != "" {
		errs = append(errs, fmt.Errorf("a code block opened with %s is never closed", code))
	}
	return out.String(), n, errs
}

// source is the file at rel (relative to root), or lines from-to of it
// with their common indentation removed, always ending in a newline.
func source(rel, from, to string) (string, error) {
	if filepath.IsAbs(rel) || strings.Contains(rel, "..") {
		return "", fmt.Errorf("include path %s must be relative to the repository's root, without ..", rel)
	}
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return "", err
	}
	text := string(data)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if from == "" {
		return text, nil
	}
	lines := strings.SplitAfter(text, "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	a, _ := strconv.Atoi(from)
	b, _ := strconv.Atoi(to)
	if a < 1 || b < a || b > len(lines) {
		return "", fmt.Errorf("%s has %d lines, cannot include %d-%d", rel, len(lines), a, b)
	}
	lines = lines[a-1 : b]
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " ")); indent < 0 || n < indent {
			indent = n
		}
	}
	var s strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			s.WriteString("\n")
			continue
		}
		s.WriteString(l[max(indent, 0):])
	}
	return s.String(), nil
}

// diff shows the first lines where a and b differ, with a little context.
func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	i := 0
	for i < len(al) && i < len(bl) && al[i] == bl[i] {
		i++
	}
	var s strings.Builder
	fmt.Fprintf(&s, "first difference at line %d\n", i+1)
	for j := i; j < i+8; j++ {
		if j < len(al) {
			fmt.Fprintf(&s, "- %s\n", al[j])
		}
		if j < len(bl) {
			fmt.Fprintf(&s, "+ %s\n", bl[j])
		}
	}
	return s.String()
}

var (
	heading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	htmlID  = regexp.MustCompile(`<a (?:id|name)="([^"]+)"`)
	// inline is [text](dest) or ![alt](dest), with an optional title.
	inline = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// reference is a link reference definition: [label]: dest
	reference  = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s+(\S+)`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	linkInText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// numbered is a line with its 1-based number.
type numbered struct {
	n    int
	line string
}

// prose returns the lines of a markdown text outside fenced code blocks.
func prose(text string) []numbered {
	var out []numbered
	var open string
	for i, line := range strings.Split(text, "\n") {
		if m := fence.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			switch {
			case open == "":
				open = m[1]
				continue
			case strings.TrimSpace(line) == open:
				open = ""
				continue
			}
		}
		if open == "" {
			out = append(out, numbered{i + 1, line})
		}
	}
	return out
}

// anchors are the fragment identifiers a markdown file has on GitHub: its
// headings' slugs (lowercase; letters, digits, '-' and '_' kept, spaces
// made '-', the rest dropped; repeats numbered -1, -2, …) and HTML ids.
func anchors(text string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, l := range prose(text) {
		line := l.line
		for _, m := range htmlID.FindAllStringSubmatch(line, -1) {
			out[m[1]] = true
		}
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := slugify(m[1])
		if k := seen[slug]; k > 0 {
			out[fmt.Sprintf("%s-%d", slug, k)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

func slugify(title string) string {
	title = linkInText.ReplaceAllString(title, "$1")
	var s strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			s.WriteRune(r)
		case r == ' ':
			s.WriteRune('-')
		}
	}
	return s.String()
}

// TestLinks checks that every relative link of the docs names a file or
// directory of the repository and, with a #fragment, a heading of it.
func TestLinks(t *testing.T) {
	var checked int
	for _, doc := range documents(t) {
		n, errs := links(doc, read(t, doc))
		checked += n
		for _, err := range errs {
			t.Error(err)
		}
	}
	if checked < 20 {
		t.Errorf("%d relative links checked, want at least 20: is the link pattern still right?", checked)
	}
}

// links checks the relative links of doc (a path relative to root) whose
// text is text, and returns how many it checked.
func links(doc, text string) (checked int, errs []error) {
	for _, l := range prose(text) {
		n, line := l.n, codeSpan.ReplaceAllString(l.line, "")
		var dests []string
		for _, m := range inline.FindAllStringSubmatch(line, -1) {
			dests = append(dests, m[1])
		}
		if m := reference.FindStringSubmatch(line); m != nil {
			dests = append(dests, m[1])
		}
		for _, dest := range dests {
			fail := func(format string, args ...any) {
				errs = append(errs, fmt.Errorf("%s:%d: link %q: %s", doc, n, dest, fmt.Sprintf(format, args...)))
			}
			u, err := url.Parse(dest)
			if err != nil {
				fail("%v", err)
				continue
			}
			if u.Scheme != "" || u.Host != "" {
				continue // another site: not checked offline
			}
			checked++
			target, body := doc, text
			if u.Path != "" {
				target = filepath.ToSlash(filepath.Join(filepath.Dir(doc), u.Path))
				if strings.HasPrefix(target, "../") {
					fail("leaves the repository")
					continue
				}
				fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(target)))
				if err != nil {
					fail("%s does not exist", target)
					continue
				}
				if u.Fragment == "" {
					continue
				}
				if fi.IsDir() || !strings.HasSuffix(target, ".md") {
					fail("only markdown files have anchors")
					continue
				}
				b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(target)))
				if err != nil {
					fail("%v", err)
					continue
				}
				body = string(b)
			}
			if u.Fragment != "" && !anchors(body)[u.Fragment] {
				fail("%s has no heading with the anchor #%s", target, u.Fragment)
			}
		}
	}
	return checked, errs
}

// TestLinksCatch: links finds what is broken, on a repository of its own.
func TestLinksCatch(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docs", "b.md"), []byte("# B\n\n## Two words\n\n```\n# not a heading\n```\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(r string) { root = r }(root)
	root = dir
	doc := "# A\n\n[ok](docs/b.md#two-words) [ok](#a) [ok](https://example.com/x#y) `[code](nope.md)`\n" +
		"[bad](docs/c.md) [bad](docs/b.md#not-a-heading) [bad](#b) [bad](../out.md)\n" +
		"```\n[code](nope.md)\n```\n"
	n, errs := links("README.md", doc)
	if n != 6 || len(errs) != 4 {
		t.Errorf("links checked %d, found %d broken: %v; want 6 checked, 4 broken", n, len(errs), errs)
	}
	for _, err := range errs {
		if !strings.Contains(err.Error(), "README.md:4:") {
			t.Errorf("%v: want it on line 4", err)
		}
	}
}

func TestSlugify(t *testing.T) {
	for title, want := range map[string]string{
		"Sidecar: `depprobe serve`":                   "sidecar-depprobe-serve",
		"`postgres://`, `postgresql://`":              "postgres-postgresql",
		"Fault → what depprobe logs":                  "fault--what-depprobe-logs",
		"Kubernetes: native sidecar (1.29+)":          "kubernetes-native-sidecar-129",
		"In front of the app: `COPY --from` into it":  "in-front-of-the-app-copy---from-into-it",
		"[Linked](other.md) heading, with_underscore": "linked-heading-with_underscore",
	} {
		if got := slugify(title); got != want {
			t.Errorf("slugify(%q) = %q, want %q", title, got, want)
		}
	}
}

// TestFrontPage keeps the README a front page.
func TestFrontPage(t *testing.T) {
	if n := len(read(t, "README.md")); n > maxReadme {
		t.Errorf("README.md is %d bytes, want at most %d: move details to docs/", n, maxReadme)
	}
}

// internal is wording that belongs to the team, not to users: the
// product contract and style guide, issue numbers, the machines the tests
// run on.
var internal = regexp.MustCompile(`\bSPEC\b|SPEC\.md|STYLE\.md|\b[Ii]ssues? #?\d+|\bdev machines?\b`)

// TestNoInternalWording: user documentation speaks to users.
func TestNoInternalWording(t *testing.T) {
	for _, doc := range documents(t) {
		for n, line := range strings.Split(read(t, doc), "\n") {
			if m := internal.FindString(line); m != "" {
				t.Errorf("%s:%d: %q is internal wording: say it in the docs' own words", doc, n+1, m)
			}
		}
	}
}

// TestExpand: the marker grammar on a small repository of its own, so that
// a bug in expand cannot leave the real docs unchecked.
func TestExpand(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"a.golden": "A1\nA2\n",
		"b.yaml":   "top:\n  x: 1\n  y: 2\nend: 3\n",
		"t.md":     "| t |\n|---|\n| 1 |\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	defer func(r string) { root = r }(root)
	root = dir

	doc := "# d\n\n" +
		"<!-- include: a.golden -->\n```text\nstale\n```\n" +
		"<!-- include: b.yaml lines=2-3 -->\n```yaml\n```\n" +
		"\n````markdown\n<!-- include: a.golden -->\n```text\nan example, left alone\n```\n````\n\n" +
		"<!-- include: t.md -->\nold\n<!-- end include -->\n" +
		"<!-- include: a.golden -->\n```\nA1\nA2\n```\n"
	want := "# d\n\n" +
		"<!-- include: a.golden -->\n```text\nA1\nA2\n```\n" +
		"<!-- include: b.yaml lines=2-3 -->\n```yaml\nx: 1\ny: 2\n```\n" +
		"\n````markdown\n<!-- include: a.golden -->\n```text\nan example, left alone\n```\n````\n\n" +
		"<!-- include: t.md -->\n| t |\n|---|\n| 1 |\n<!-- end include -->\n" +
		"<!-- include: a.golden -->\n```\nA1\nA2\n```\n"
	got, n, errs := expand(doc)
	if len(errs) > 0 || n != 4 || got != want {
		t.Errorf("expand = %d markers, errors %v:\n%s\nwant 4 markers, no errors:\n%s", n, errs, got, want)
	}

	for _, bad := range []struct{ name, doc, want string }{
		{"missing file", "<!-- include: nope.txt -->\n```\n```\n", "nope.txt"},
		{"no fence", "<!-- include: a.golden -->\n\n```\n```\n", "code fence on the next line"},
		{"no end marker", "<!-- include: t.md -->\n| x |\n", "no <!-- end include -->"},
		{"lines out of range", "<!-- include: a.golden lines=2-5 -->\n```\n```\n", "cannot include 2-5"},
		{"old marker", "<!-- golden: a.golden -->\n```\n```\n", "not a marker"},
		{"unclosed block", "```sh\nmake\n", "never closed"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, _, errs := expand(bad.doc)
			if len(errs) == 0 || !strings.Contains(fmt.Sprint(errs), bad.want) {
				t.Errorf("errors = %v, want one that says %q", errs, bad.want)
			}
		})
	}
}

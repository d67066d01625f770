// Package images makes the container images the scenarios run, with nothing pulled: each
// is a root filesystem written as a tar from files of this machine (static binaries, the
// CA certificates, the Go toolchain) and imported into a Docker engine, except depprobe's
// own image, which the engine builds from the project's Dockerfile with local stand-ins
// for its base images. It knows nothing of Kubernetes.
package images

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// File is one entry of a root filesystem: a host file or directory tree (Src), literal
// content (Data), a symlink (Link) or an empty directory (Dir).
type File struct {
	Path     string // inside the image, absolute
	Src      string // host path; a directory is copied recursively
	Data     []byte
	Link     string
	Dir      bool
	Mode     int64 // 0 keeps Src's mode, or 0o644 / 0o755
	UID, GID int
	Skip     func(rel string) bool // for a Src directory: leave out these paths (relative to Src)
}

// epoch is the modification time of every entry, so an image's layer depends only on
// its content.
var epoch = time.Unix(0, 0)

// writeTar writes files as a tar, parents first; directories are created as needed.
func writeTar(w io.Writer, files []File) error {
	tw := tar.NewWriter(w)
	made := map[string]bool{"/": true}
	mkdirs := func(p string) error {
		var parents []string
		for d := filepath.Dir(p); !made[d]; d = filepath.Dir(d) {
			parents = append(parents, d)
		}
		sort.Strings(parents)
		for _, d := range parents {
			made[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range files {
		if err := mkdirs(f.Path); err != nil {
			return err
		}
		name := strings.TrimPrefix(f.Path, "/")
		switch {
		case f.Link != "":
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: f.Link, Mode: 0o777, ModTime: epoch}); err != nil {
				return err
			}
		case f.Dir:
			mode := f.Mode
			if mode == 0 {
				mode = 0o755
			}
			made[f.Path] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: f.UID, Gid: f.GID, ModTime: epoch}); err != nil {
				return err
			}
		case f.Data != nil:
			mode := f.Mode
			if mode == 0 {
				mode = 0o644
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(f.Data)), Mode: mode, Uid: f.UID, Gid: f.GID, ModTime: epoch}); err != nil {
				return err
			}
			if _, err := tw.Write(f.Data); err != nil {
				return err
			}
		default:
			if err := addTree(tw, f, made); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// addTree adds a host file, or a directory and everything below it, at f.Path.
func addTree(tw *tar.Writer, f File, made map[string]bool) error {
	return filepath.WalkDir(f.Src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(f.Src, p)
		if rel != "." && f.Skip != nil && f.Skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := f.Path
		if rel != "." {
			target = filepath.Join(f.Path, rel)
		}
		name := strings.TrimPrefix(target, "/")
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := int64(info.Mode().Perm())
		if f.Mode != 0 && !d.IsDir() {
			mode = f.Mode
		}
		switch {
		case d.IsDir():
			made[target] = true
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: f.UID, Gid: f.GID, ModTime: epoch})
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: link, Mode: 0o777, ModTime: epoch})
		case info.Mode().IsRegular():
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: info.Size(), Mode: mode, Uid: f.UID, Gid: f.GID, ModTime: epoch}); err != nil {
				return err
			}
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			_, err = io.Copy(tw, in)
			return err
		}
		return nil // sockets, devices: not in an image
	})
}

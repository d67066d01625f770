// Package e2e holds depprobe's end-to-end scenarios; see README.md in this folder.
package e2e

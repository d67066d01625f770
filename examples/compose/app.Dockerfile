# syntax=docker/dockerfile:1

# An application image with depprobe in front of its entrypoint. nginx stands in for your
# application; only the COPY --from and ENTRYPOINT lines matter.
FROM nginx:1.29

# The static binary runs on any Linux base image, with or without libc.
COPY --from=ghcr.io/depprobe/depprobe:0.1.0 /depprobe /usr/local/bin/depprobe

# depprobe waits for DEPPROBE_TARGETS, then execs what follows `--` (here nginx's own
# entrypoint with the CMD as its arguments). If it gives up, it exits 1 and the app never
# starts.
ENTRYPOINT ["/usr/local/bin/depprobe", "wait", "--", "/docker-entrypoint.sh"]
CMD ["nginx", "-g", "daemon off;"]

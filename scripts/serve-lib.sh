# Sourced by the scripts that drive `glossa serve` (load-test.sh, check-openai-client.sh).
#
# serve_in DIR COMMAND...: runs COMMAND (a `glossa serve … --addr HOST:0` command line, possibly
# behind a wrapper such as taskset or a shell function) in the background with its stdout and
# stderr in DIR, waits up to 60 s for its first line, and sets $server (the pid) and $url (the
# address it printed). Exits with the server's stderr if it dies or prints no address.
serve_in() {
    local dir=$1
    shift
    # Emptied here, not by the redirection: the loop below must not read an earlier server's address.
    : > "$dir/stdout"
    "$@" > "$dir/stdout" 2> "$dir/stderr" &
    server=$!
    for _ in $(seq 600); do
        [ -s "$dir/stdout" ] && break
        kill -0 "$server" 2>/dev/null || { cat "$dir/stderr" >&2; exit 1; }
        sleep 0.1
    done
    url=$(head -n1 "$dir/stdout" | sed -n 's|^listening on ||p')
    [ -n "$url" ] || { echo "the server printed no address" >&2; cat "$dir/stderr" >&2; exit 1; }
}

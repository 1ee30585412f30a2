# Sourced by the bench scripts: builds Strongroom and the load generator in release mode, starts the server
# on a free loopback port with a throwaway data directory (removed, with the server, on exit), and sets
# `url`. The root's credentials are exported for the load generator and the aws CLI.
cargo build --release -q -p strongroom -p strongroom-bench
export AWS_ACCESS_KEY_ID=AKIABENCHROOT0000001 AWS_SECRET_ACCESS_KEY=bench-secret-0123456789 AWS_DEFAULT_REGION=us-east-1
export STRONGROOM_ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID STRONGROOM_ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
data=$(mktemp -d); log=$(mktemp)
# SERVER_ARGS adds flags (the soak script asks for --metrics).
./target/release/strongroom serve --listen 127.0.0.1:0 --data-dir "$data" --log warn ${SERVER_ARGS:-} >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$log"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
url=$(sed -n 's/^strongroom listening on //p' "$log")

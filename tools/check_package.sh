#!/usr/bin/env bash
# Checks that each library crate, as `cargo package` would ship it, holds every file its sources
# embed (`include_str!` / `include_bytes!` relative to the crate, or to CARGO_MANIFEST_DIR), and
# that nothing it ships reaches outside the crate. Prints what is missing and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for dir in apimachinery client apiserver informer controller derive; do
  pkg="rudder-$dir"
  list=$(cargo package -p "$pkg" --allow-dirty --no-verify --list --quiet 2>/dev/null) || {
    echo "cargo package --list failed for $pkg" >&2
    cargo package -p "$pkg" --allow-dirty --no-verify --list >&2 || true
    exit 1
  }
  # Every path an include_*! names, relative to the crate root.
  while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    if [[ $rest =~ CARGO_MANIFEST_DIR\"\),\ *\"/([^\"]+)\" ]]; then
      rel=${BASH_REMATCH[1]}
    elif [[ $rest =~ include_(str|bytes)!\(\"([^\"]+)\"\) ]]; then
      rel=$(realpath -m --relative-to="$dir" "$(dirname "$file")/${BASH_REMATCH[2]}")
    else
      echo "$file: an include the check cannot read: $rest" >&2
      status=1
      continue
    fi
    if [[ $rel == ../* ]]; then
      echo "$pkg: $file embeds $rel, outside the crate" >&2
      status=1
    elif ! grep -qxF "$rel" <<<"$list"; then
      echo "$pkg: $file embeds $rel, which cargo package leaves out" >&2
      status=1
    fi
  done < <(grep -rnoE 'include_(str|bytes)!\(.*' --include='*.rs' "$dir/src" | sed -E 's/^([^:]+):[0-9]+:/\1:/' || true)
done
[ $status -eq 0 ] && echo "every embedded file is inside its crate's package"
exit $status

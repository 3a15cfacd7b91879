#!/bin/sh
# Writes one output file from its input: the greeting, then the input's bytes.
name=$(basename "$INPUT_FILE_PATH")
{ printf '%s: ' "$GREETING"; cat "$INPUT_FILE_PATH"; } > "$TMP_OUTPUT_DIR/$name.out"
echo "greeted $name"

#!/bin/sh
# Greets the input: writes a file with its size (an OSCAR-style script for the tests).
echo "greeter: $INPUT_FILE_PATH"
wc -c < "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/size.txt"

#!/bin/sh
# The report stage (OSCAR-style script): one classification result (JSON) in, one CSV row out.
#   INPUT_FILE_PATH  the JSON the classify stage wrote: {"input", "model", "predictions": [...]}
#   TMP_OUTPUT_DIR   files written here are uploaded to the service's output path, same names
# The rows of all images together, under the output path, are the report:
#   input,label,class_id,score
set -eu
name=$(basename "$INPUT_FILE_PATH" .json)
python3 - "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/$name.csv" <<'PY'
import csv, json, sys

with open(sys.argv[1], encoding="utf-8") as source:
    result = json.load(source)
top = result["predictions"][0]
with open(sys.argv[2], "w", newline="", encoding="utf-8") as out:
    csv.writer(out).writerow([result["input"], top["label"], top["class_id"], f"{top['score']:.4f}"])
PY
echo "report: $name: $(cat "$TMP_OUTPUT_DIR/$name.csv")"

#!/usr/bin/env bash
# The fuzz targets, one a line: what build.sh builds and run.sh runs.
printf '%s\n' club_load prioritizer_load model_load numpy api_sequence

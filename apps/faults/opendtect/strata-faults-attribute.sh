#!/bin/sh
# OpendTect ExternalAttrib: Interpreter /bin/sh, External File this script; see docs/faults.md#opendtect.
exec "${STRATA_FAULTS_BIN:-strata-faults}" opendtect --checkpoint "${STRATA_FAULTS_CHECKPOINT:?set STRATA_FAULTS_CHECKPOINT to a strata-faults best.safetensors}" "$@"

.PHONY: demo test bootstrap bench
# Set up (virtualenv, Python packages, kubernetes.core, test API server) and run the main job.
demo:
	./scripts/demo.sh
# The whole test suite: unit, integration, sanity (two legs), lint, build.
test:
	./scripts/test.sh
bootstrap:
	./scripts/bootstrap.sh --all-legs
# The collection's modules vs kubernetes.core.k8s at N = 10..2000 (long: see benchmarks/README.md); table in .cache/bench/.
bench:
	./scripts/bootstrap.sh
	.venv/bin/python benchmarks/compare.py $(BENCH_ARGS)

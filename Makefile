.PHONY: demo test bootstrap
# Set up (virtualenv, Python packages, kubernetes.core, test API server) and run the main job.
demo:
	./scripts/demo.sh
# The whole test suite: unit, integration, sanity (two legs), lint, build.
test:
	./scripts/test.sh
bootstrap:
	./scripts/bootstrap.sh --all-legs

# Container images, included by the Makefile: `make images` builds and tags, with docker buildx,
#   $(REGISTRY)/gateway:$(VERSION)          the gateway (Dockerfile), $(PLATFORMS)
#   $(REGISTRY)/<model>:$(VERSION)          every model_images/<model>/Dockerfile, $(PLATFORMS)
#   $(REGISTRY)/<model>:$(VERSION)-gpu      every model_images/<model>/Dockerfile.gpu, linux/amd64
# These are the tags that model_images/<model>/service.yaml names in `image:` and `variants:`.
#
#   make images                             build, then load into the local image store (--load)
#   make images PUSH=1 REGISTRY=ghcr.io/me  build and push to a registry (--push)
#   make images PLATFORMS=linux/arm64       one platform only
# Loading a multi-platform image needs the containerd image store (Docker Desktop, Docker Engine 29
# and later by default); otherwise push (PUSH=1) or build one platform. Building for a foreign
# platform needs QEMU (`docker run --privileged --rm tonistiigi/binfmt --install all`) or a
# native builder; the model export stages always run on the build machine's own platform.
# `make -n images` prints the commands without running anything.

# Wherever the Makefile includes this file, its default goal stays its own (restored at the end).
IMAGES_MK_DEFAULT_GOAL := $(.DEFAULT_GOAL)

REGISTRY ?= inference-gateway
ifeq ($(origin VERSION),undefined)
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
endif
PLATFORMS ?= linux/amd64,linux/arm64
GPU_PLATFORMS := linux/amd64
PUSH ?=
DOCKER ?= docker
BUILDX_FLAGS ?=

IMAGE_MODELS := $(sort $(patsubst model_images/%/Dockerfile,%,\
	$(wildcard model_images/*/Dockerfile)))
GPU_MODELS := $(sort $(patsubst model_images/%/Dockerfile.gpu,%,\
	$(wildcard model_images/*/Dockerfile.gpu)))
IMAGE_OUTPUT := $(if $(filter 1 yes true,$(PUSH)),--push,--load)
BUILDX := $(strip $(DOCKER) buildx build $(IMAGE_OUTPUT) $(BUILDX_FLAGS))

.PHONY: images images-check image-gateway $(IMAGE_MODELS:%=image-%) $(GPU_MODELS:%=image-%-gpu)

images: image-gateway $(IMAGE_MODELS:%=image-%) $(GPU_MODELS:%=image-%-gpu)

# Fails early, with one line saying what is missing, where no Docker engine or buildx is available.
images-check:
	@command -v $(DOCKER) >/dev/null 2>&1 || { echo "make images: '$(DOCKER)' is not installed; \
	install Docker (https://docs.docker.com/engine/install/) to build the images" >&2; exit 1; }
	@$(DOCKER) buildx version >/dev/null 2>&1 || { echo "make images: docker buildx is missing; \
	install the buildx plugin (https://docs.docker.com/build/install-buildx/)" >&2; exit 1; }
	@$(DOCKER) info >/dev/null 2>&1 || { echo "make images: no Docker engine answers; start \
	dockerd (or Docker Desktop) or point DOCKER_HOST at one" >&2; exit 1; }
	@test -n "$(VERSION)" || { echo "make images: no version in pyproject.toml; pass VERSION=" >&2; \
	exit 1; }

image-gateway: | images-check
	$(BUILDX) --platform $(PLATFORMS) -f Dockerfile -t $(REGISTRY)/gateway:$(VERSION) .

$(IMAGE_MODELS:%=image-%): image-%: | images-check
	$(BUILDX) --platform $(PLATFORMS) -f model_images/$*/Dockerfile -t $(REGISTRY)/$*:$(VERSION) .

$(GPU_MODELS:%=image-%-gpu): image-%-gpu: | images-check
	$(BUILDX) --platform $(GPU_PLATFORMS) -f model_images/$*/Dockerfile.gpu \
		-t $(REGISTRY)/$*:$(VERSION)-gpu .

.DEFAULT_GOAL := $(IMAGES_MK_DEFAULT_GOAL)

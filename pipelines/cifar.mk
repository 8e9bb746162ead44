# cifar.mk: the paper recipe and the NPID baseline on CIFAR-10 / CIFAR-100,
# from the official binary tarballs (not downloadable here: pass the path).
#
#   make -C pipelines cifar10  CIFAR10=/data/cifar-10-binary.tar.gz
#   make -C pipelines cifar100 CIFAR100=/data/cifar-100-binary.tar.gz
#
# paper: CIFAR ResNet-18 (width CIFAR_WIDTH, default 1), mlp3 head d=2048,
#        bank forward, grad write, SqrtKL, CutMix, batch 512, lr 1.0,
#        k=10000, cosine, CIFAR_EPOCHS (default 200).
# npid:  the same backbone, linear head d=128, random bank, npid write,
#        batch 128, lr 0.03, all negatives, step schedule (lemniscate).

CIFAR_EPOCHS ?= 200
CIFAR_WIDTH  ?= 1
CIFAR_PAPER_NET   = --arch resnet18 --width $(CIFAR_WIDTH) --head mlp3 --dim 2048 --seed 1 --batch 512 --bank forward
CIFAR_PAPER_TRAIN = --recipe paper --epochs $(CIFAR_EPOCHS)
CIFAR_NPID_NET    = --arch resnet18 --width $(CIFAR_WIDTH) --head linear --dim 128 --seed 1 --bank random
CIFAR_NPID_TRAIN  = --recipe npid --epochs $(CIFAR_EPOCHS) \
                    --milestones $(shell echo $$(($(CIFAR_EPOCHS)*3/5))),$(shell echo $$(($(CIFAR_EPOCHS)*4/5)))

need = @test -n "$(1)" && test -f "$(1)" || { echo "pipelines: set $(2)=/path/to/$(3) (the official binary tarball)" >&2; exit 2; }

$(OUT)/cifar10/data/%.sslt:
	$(call need,$(CIFAR10),CIFAR10,cifar-10-binary.tar.gz)
	@mkdir -p $(@D)
	ssl-prep $(TFLAG) --split $* $(CIFAR10) -o $@

$(OUT)/cifar100/data/%.sslt:
	$(call need,$(CIFAR100),CIFAR100,cifar-100-binary.tar.gz)
	@mkdir -p $(@D)
	ssl-prep $(TFLAG) --split $* --labels fine $(CIFAR100) -o $@

$(foreach d,cifar10 cifar100,\
  $(eval $(call experiment,$(OUT)/$(d)/paper,$(OUT)/$(d)/data,$(CIFAR_PAPER_NET),$(CIFAR_PAPER_TRAIN)))\
  $(eval $(call experiment,$(OUT)/$(d)/npid,$(OUT)/$(d)/data,$(CIFAR_NPID_NET),$(CIFAR_NPID_TRAIN))))

cifar10 cifar100: %: $(OUT)/%/paper/trained.knn.json $(OUT)/%/paper/trained.linear.json \
                     $(OUT)/%/npid/trained.knn.json $(OUT)/%/npid/trained.linear.json
	sh $(TOP)/pipelines/summary.sh $(OUT)/$@ paper npid

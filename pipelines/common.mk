# common.mk: rules shared by the experiments.
#
# A run directory R holds train.sslt and test.sslt (files or links) and,
# after the rules below, for each checkpoint NAME.ckpt in R:
#   NAME.train.feat / NAME.test.feat   backbone features (ssl-extract)
#   NAME.knn.json / NAME.linear.json   kNN (k=200, sigma=0.1) and linear top-1
# raw.knn.json / raw.linear.json use the pixels of the dataset streams.

KNN_FLAGS     ?= -k 200 --sigma 0.1
LINEVAL_FLAGS ?= --seed 1
TFLAG := --threads $(THREADS)

.SECONDEXPANSION:

%.train.feat: %.ckpt $$(@D)/train.sslt
	ssl-extract $(TFLAG) -q $< $(@D)/train.sslt -o $@

%.test.feat: %.ckpt $$(@D)/test.sslt
	ssl-extract $(TFLAG) -q $< $(@D)/test.sslt -o $@

%/raw.knn.json: %/train.sslt %/test.sslt
	ssl-knn $(TFLAG) $(KNN_FLAGS) --json $^ > $@.tmp && mv $@.tmp $@

%/raw.linear.json: %/train.sslt %/test.sslt
	ssl-lineval $(TFLAG) $(LINEVAL_FLAGS) -q --json $^ > $@.tmp && mv $@.tmp $@

%.knn.json: %.train.feat %.test.feat
	ssl-knn $(TFLAG) $(KNN_FLAGS) --json $^ > $@.tmp && mv $@.tmp $@

%.linear.json: %.train.feat %.test.feat
	ssl-lineval $(TFLAG) $(LINEVAL_FLAGS) -q --json $^ > $@.tmp && mv $@.tmp $@

# $(call experiment,R,DATA,INIT_FLAGS,TRAIN_FLAGS): rules for run directory R
# on the train/test streams in directory DATA: R/init.ckpt from
# ssl-init-bank, R/trained.ckpt from ssl-train (resumable: an interrupted
# run continues from R/run.ckpt), R/train.jsonl the training log.
define experiment
$(1)/train.sslt: $(2)/train.sslt
	@mkdir -p $$(@D)
	ln -sf $$(abspath $$<) $$@
$(1)/test.sslt: $(2)/test.sslt
	@mkdir -p $$(@D)
	ln -sf $$(abspath $$<) $$@
$(1)/init.ckpt: $(1)/train.sslt
	ssl-init-bank $(TFLAG) $(3) $$< -o $$@
$(1)/trained.ckpt: $(1)/init.ckpt $(1)/train.sslt $(1)/test.sslt
	start=$$<; [ -f $(1)/run.ckpt ] && start=$(1)/run.ckpt; \
	ssl-train $(TFLAG) $(4) --monitor $(1)/test.sslt --log $(1)/train.jsonl \
	  $$$$start $(1)/train.sslt -o $(1)/run.ckpt
	mv $(1)/run.ckpt $$@
endef

# $(call row,LABEL,FILE_PREFIX): one markdown/CSV row from NAME.knn.json and NAME.linear.json
json_top1 = $(shell sed -n 's/.*"top1": *\([0-9.eE+-]*\).*/\1/p' $(1) | head -n 1)

# common.mk: rules shared by the experiments.
#
# Data directory D (ssl-prep): D/train.sslt and D/test.sslt, from the flags in
# D/prep-train.flags and D/prep-test.flags; D/dataset names the dataset.
#
# Run directory R: train.sslt and test.sslt (links into D) and
#   init.ckpt      ssl-init-bank $(cat R/init.flags)
#   trained.ckpt   [$(MPIRUN)] ssl-train $(cat R/train.flags), log in R/train.jsonl;
#                  resumable: an interrupted run continues from R/run.ckpt
#                  and appends to the log, a fresh start truncates it; one
#                  training at a time: the recipe holds R/.train.lock
#                  (flock(1)) and stops, touching nothing, while another
#                  make (or queue.sh) holds it
#   NAME.train.feat / NAME.test.feat   ssl-extract $(cat R/extract.flags)
#   NAME.knn.csv / NAME.linear.csv     ssl-knn / ssl-lineval --csv with
#                  R/knn.flags / R/lineval.flags (NAME: a checkpoint, or
#                  raw for the pixels of the dataset streams)
#   NAME.knn-few.csv / NAME.linear-few.csv   the same with --labels-per-class
#                  (R/knn-few.flags, R/linear-few.flags)
# Every output F also gets F.time: its wall seconds and the git commit.
# PRECISION=bf16 adds --precision bf16 to the init, train and extract
# flags of every run, BANK_DTYPE=bf16 --bank-dtype bf16 to the init flags
# (below).
#
# Flags files ("stamps") are rewritten only when their content changes and
# every step depends on its own, so a changed setting reruns exactly the
# steps downstream of it. They are written while the makefiles are read,
# for the pipelines named on the command line (a stamp that is missing is
# made by its rule whatever the goal); the recipes read their flags from
# them, so a stamp is always what produced its step's output. make -n and
# make -q write no stamp and show (or report) what a changed setting reruns.

KNN_FLAGS     ?= -k 200 --sigma 0.1
LINEVAL_FLAGS ?= --seed 1
EXTRACT_FLAGS ?=
# PRECISION=bf16: --precision bf16 for every run's ssl-init-bank, ssl-train
# and ssl-extract (bfloat16 products, fp32 sums: CPUs with AVX512-BF16; the
# tools refuse it elsewhere); fp32 or empty: the tools' default, fp32, with
# flags (and so stamps) as before.
PRECISION     ?=
ifneq ($(filter-out fp32 bf16,$(PRECISION))$(word 2,$(PRECISION)),)
$(error PRECISION='$(PRECISION)': not fp32 or bf16)
endif
PFLAG  := $(if $(filter bf16,$(PRECISION)),--precision bf16)
# BANK_DTYPE=bf16: every run's bank in bfloat16 (ssl-init-bank --bank-dtype
# bf16: half the bank's memory and checkpoint share; any CPU); f32 or
# empty: float32, with flags as before.
BANK_DTYPE    ?=
ifneq ($(filter-out f32 bf16,$(BANK_DTYPE))$(word 2,$(BANK_DTYPE)),)
$(error BANK_DTYPE='$(BANK_DTYPE)': not f32 or bf16)
endif
BFLAG  := $(if $(filter bf16,$(BANK_DTYPE)),--bank-dtype bf16)
FEW_LABELS    ?= 1,10,100
FEW_DRAWS     ?= 5
TFLAG  := --threads $(THREADS)
STAMP  := sh $(TOP)/pipelines/stamp.sh
TIMED  := sh $(TOP)/pipelines/timed.sh
PIPE_GOALS := $(or $(MAKECMDGOALS),all)
squote = '$(subst ','\'',$(strip $(1)))'

# $(call stamp_now,FILE,CONTENT,GOALS): when one of GOALS was asked for,
# write the stamp now; under make -n or -q write nothing, but make a stamp
# whose content would change out of date, so that they show what would run.
MAKE_DRY := $(findstring n,$(filter-out --%,$(firstword -$(MAKEFLAGS))))$(findstring q,$(filter-out --%,$(firstword -$(MAKEFLAGS))))
stamp_now = $(if $(filter $(3),$(PIPE_GOALS)),$(if $(MAKE_DRY),$(if $(shell printf '%s\n' $(call squote,$(2)) | cmp -s - $(1) || echo x),$(1): .stamp-changed),$(shell $(STAMP) $(1) $(call squote,$(2)))))
.PHONY: .stamp-changed

# $(call stamp,FILE,CONTENT,GOALS): the stamp, written now or by its rule.
define stamp
$(call stamp_now,$(1),$(2),$(3))
$(1):
	@$(STAMP) $$@ $(call squote,$(2))
endef

# $(call dataset,D,NAME,INPUT,TRAIN_PREP_FLAGS,TEST_PREP_FLAGS,GOALS,VAR):
# the streams of data directory D; VAR, when given, names the variable that
# must hold an existing INPUT file (CIFAR10, CIFAR100).
define dataset
$(call stamp,$(1)/dataset,$(2),$(6))
$(call stamp,$(1)/prep-train.flags,--split train $(4) $(3),$(6))
$(call stamp,$(1)/prep-test.flags,--split test $(5) $(3),$(6))
$(1)/train.sslt $(1)/test.sslt: $(1)/%.sslt: $(1)/prep-%.flags $(1)/dataset
$(if $(7),	@test -n "$$($(7))" && test -f "$$($(7))" || { echo "pipelines: set $(7)=/path/to/the official binary tarball (now '$$($(7))')" >&2; exit 2; })
	$(TIMED) $$@.time ssl-prep $(TFLAG) -q $$$$(cat $$<) -o $$@
endef

# $(call evals,R,GOALS): the evaluation stamps of run directory R.
define evals
$(call stamp,$(1)/extract.flags,$(EXTRACT_FLAGS) $(PFLAG),$(2))
$(call stamp,$(1)/knn.flags,$(KNN_FLAGS),$(2))
$(call stamp,$(1)/lineval.flags,$(LINEVAL_FLAGS),$(2))
$(call stamp,$(1)/knn-few.flags,$(KNN_FLAGS) --labels-per-class $(FEW_LABELS) --draws $(FEW_DRAWS),$(2))
$(call stamp,$(1)/lineval-few.flags,$(LINEVAL_FLAGS) --labels-per-class $(FEW_LABELS) --draws $(FEW_DRAWS),$(2))
endef

# $(call experiment,R,D,INIT_FLAGS,TRAIN_FLAGS,GOALS): run directory R on
# the streams of data directory D.
define experiment
$(call stamp,$(1)/init.flags,$(3) $(PFLAG) $(BFLAG),$(5))
$(call stamp,$(1)/train.flags,$(4) $(PFLAG),$(5))
$(call evals,$(1),$(5))
$(1)/train.sslt $(1)/test.sslt: $(1)/%.sslt: $(2)/%.sslt
	@mkdir -p $$(@D)
	ln -sf $$(abspath $$<) $$@
$(1)/init.ckpt: $(1)/train.sslt $(1)/init.flags
	$(TIMED) $$@.time ssl-init-bank $(TFLAG) -q $$$$(cat $(1)/init.flags) $(1)/train.sslt -o $$@
$(1)/trained.ckpt: $(1)/init.ckpt $(1)/train.sslt $(1)/test.sslt $(1)/train.flags
	@exec 9>>$(1)/.train.lock; flock -n 9 || { \
	  echo "pipelines: $(1): another make is training this run (it holds $(1)/.train.lock); not starting a second" >&2; exit 1; }; \
	if [ -f $(1)/run.ckpt ] && [ $(1)/run.ckpt -nt $(1)/init.ckpt ] && [ $(1)/run.ckpt -nt $(1)/train.flags ]; then \
	  echo "pipelines: $(1): resuming from run.ckpt"; start=$(1)/run.ckpt; a=-a; \
	else start=$(1)/init.ckpt; a=; rm -f $(1)/run.ckpt $$@.time; : > $(1)/train.jsonl; fi; \
	echo "$(if $(MPIRUN),$(MPIRUN) )ssl-train $(TFLAG) $$$$(cat $(1)/train.flags) --monitor $(1)/test.sslt --log $(1)/train.jsonl $$$$start $(1)/train.sslt -o $(1)/run.ckpt"; \
	$(TIMED) $$$$a $$@.time $(MPIRUN) ssl-train $(TFLAG) $$$$(cat $(1)/train.flags) --monitor $(1)/test.sslt \
	  --log $(1)/train.jsonl $$$$start $(1)/train.sslt -o $(1)/run.ckpt && \
	mv $(1)/run.ckpt $$@
endef

.SECONDEXPANSION:

%.train.feat: %.ckpt $$(@D)/train.sslt $$(@D)/extract.flags
	$(TIMED) $@.time ssl-extract $(TFLAG) -q $$(cat $(@D)/extract.flags) $< $(@D)/train.sslt -o $@

%.test.feat: %.ckpt $$(@D)/test.sslt $$(@D)/extract.flags
	$(TIMED) $@.time ssl-extract $(TFLAG) -q $$(cat $(@D)/extract.flags) $< $(@D)/test.sslt -o $@

# raw: the pixels of the dataset streams.
%/raw.knn.csv: %/train.sslt %/test.sslt $$(@D)/knn.flags
	$(TIMED) $@.time ssl-knn $(TFLAG) -q --csv $$(cat $(word 3,$^)) $(wordlist 1,2,$^) > $@.tmp && mv $@.tmp $@

%/raw.knn-few.csv: %/train.sslt %/test.sslt $$(@D)/knn-few.flags
	$(TIMED) $@.time ssl-knn $(TFLAG) -q --csv $$(cat $(word 3,$^)) $(wordlist 1,2,$^) > $@.tmp && mv $@.tmp $@

%/raw.linear.csv: %/train.sslt %/test.sslt $$(@D)/lineval.flags
	$(TIMED) $@.time ssl-lineval $(TFLAG) -q --csv $$(cat $(word 3,$^)) $(wordlist 1,2,$^) > $@.tmp && mv $@.tmp $@

%/raw.linear-few.csv: %/train.sslt %/test.sslt $$(@D)/lineval-few.flags
	$(TIMED) $@.time ssl-lineval $(TFLAG) -q --csv $$(cat $(word 3,$^)) $(wordlist 1,2,$^) > $@.tmp && mv $@.tmp $@

%.knn.csv: %.train.feat %.test.feat $$(@D)/knn.flags
	$(TIMED) $@.time ssl-knn $(TFLAG) -q --csv $$(cat $(word 3,$^)) $(wordlist 1,2,$^) > $@.tmp && mv $@.tmp $@

%.knn-few.csv: %.train.feat %.test.feat $$(@D)/knn-few.flags
	$(TIMED) $@.time ssl-knn $(TFLAG) -q --csv $$(cat $(word 3,$^)) $(wordlist 1,2,$^) > $@.tmp && mv $@.tmp $@

%.linear.csv: %.train.feat %.test.feat $$(@D)/lineval.flags
	$(TIMED) $@.time ssl-lineval $(TFLAG) -q --csv $$(cat $(word 3,$^)) $(wordlist 1,2,$^) > $@.tmp && mv $@.tmp $@

%.linear-few.csv: %.train.feat %.test.feat $$(@D)/lineval-few.flags
	$(TIMED) $@.time ssl-lineval $(TFLAG) -q --csv $$(cat $(word 3,$^)) $(wordlist 1,2,$^) > $@.tmp && mv $@.tmp $@

# $(call summary,DIR,RUN_DIRS,GOAL): DIR/summary.{csv,md} (and runs.csv,
# knn-curves.png) over the run directories; DIR/runs.list records which.
define summary
$(call stamp,$(1)/runs.list,$(2),$(3))
$(1)/summary.csv: $(call results,$(2)) $(1)/runs.list $(TOP)/pipelines/summary.sh
	sh $(TOP)/pipelines/summary.sh $(1) $(2)
endef

# The results of run directories: $(call results,R...)
results = $(foreach r,$(1),$(r)/trained.knn.csv $(r)/trained.linear.csv)


# ablation.mk: the paper's ablation on one dataset (ABL_DATA: fashion-mnist,
# the demo's 20000-image subset and network, or cifar10 / cifar100 with
# CIFAR10=... / CIFAR100=...) and budget (ABL_EPOCHS, default 10):
#   npid      random bank, npid write, no SqrtKL
#   calibrate + bank initialised by a forward pass (feature calibrate)
#   grad      + bank update that follows the gradient
#   sqrtkl    + SqrtKL self-distillation (= the paper recipe)
#   nocutmix  the paper recipe without CutMix
# and the optional rows of ABL_EXTRA (seeds ABL_SEEDS_<row>, default SEEDS):
#   lambdaL   the paper recipe with SqrtKL weight L (lambda0 ... lambda50)
#   l1, l2    the paper recipe with one SqrtKL term, the gradient through the
#             target (--kl-keepgrad --kl-terms l1|l2: an ssl-train that has
#             the SqrtKL variants, issue 15 item 5)
#   NAME      any other row with ABL_FLAGS_NAME, its ssl-train flags beside
#             the recipe (its init pass: --bank forward)
# The sqrtkl row also logs the backbone's kNN every epoch (--monitor-backbone:
# training is unchanged), for the comparison with PyTorch's curves.
# All rows share the paper recipe otherwise (mlp3 head d=2048, k negatives,
# tau 0.2, CutMix), the network and the epochs. Each row runs once per seed
# of SEEDS (or ABL_SEEDS_<row>), in $(OUT)/ablation/$(ABL_DATA)/<row>-s<seed>.
# Output: $(OUT)/ablation/$(ABL_DATA)/summary.{csv,md}, runs.csv, knn-curves.png.

EXP_EPOCHS ?= 10
ABL_EPOCHS ?= $(EXP_EPOCHS)
ABL_DIR    := $(OUT)/ablation/$(ABL_DATA)
ABL_NET    ?= $(call data_net,$(ABL_DATA))
ABL_TRAIN  ?= $(call data_train,$(ABL_DATA),$(ABL_EPOCHS))
ABL_ROWS   ?= npid calibrate grad sqrtkl nocutmix
ABL_EXTRA  ?=
abl_init   = $(if $(filter npid,$(1)),--bank random,--bank forward)
abl_train  = $(strip $(if $(ABL_FLAGS_$(1)),$(ABL_FLAGS_$(1)),$(abl_row)))
abl_row    = $(strip $(if $(filter npid calibrate,$(1)),--bank-write npid --lambda 0)\
                     $(if $(filter sqrtkl,$(1)),--monitor-backbone)\
                     $(if $(filter grad,$(1)),--bank-write grad --lambda 0)\
                     $(if $(filter sqrtkl nocutmix lambda% l1 l2,$(1)),--bank-write grad)\
                     $(if $(filter l1 l2,$(1)),--kl-keepgrad --kl-terms $(1))\
                     $(if $(filter nocutmix,$(1)),--no-cutmix)\
                     $(if $(filter lambda%,$(1)),--lambda $(patsubst lambda%,%,$(1))))
abl_seeds  = $(or $(ABL_SEEDS_$(1)),$(SEEDS))
ABL_RUNS  := $(foreach r,$(ABL_ROWS) $(ABL_EXTRA),$(foreach s,$(call abl_seeds,$(r)),$(ABL_DIR)/$(r)-s$(s)))

$(foreach r,$(ABL_ROWS) $(ABL_EXTRA),$(foreach s,$(call abl_seeds,$(r)),\
  $(eval $(call experiment,$(ABL_DIR)/$(r)-s$(s),$(call data_dir,$(ABL_DATA)),\
    $(ABL_NET) --seed $(s) $(call abl_init,$(r)),$(ABL_TRAIN) --seed $(s) $(call abl_train,$(r)),ablation))))
$(eval $(call summary,$(ABL_DIR),$(ABL_RUNS),ablation))

ablation: $(ABL_DIR)/summary.csv

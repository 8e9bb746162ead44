# model-size.mk: the paper recipe at backbone widths MS_WIDTHS (default
# 0.25 0.5 1) on the demo's data (Fashion-MNIST subset) and budget.
# Output: $(OUT)/model-size/summary.{csv,md} and knn-curves.png.

MS_WIDTHS ?= 0.25 0.5 1
MS_DIR    := $(OUT)/model-size
MS_TRAIN  ?= $(FM_TRAIN)

$(foreach w,$(MS_WIDTHS),\
  $(eval $(call experiment,$(MS_DIR)/w$(w),$(FM)/data,--arch resnet18 --width $(w) --head mlp3 --dim 2048 --seed 1 --batch 256 --bank forward,$(MS_TRAIN))))

MS_RUNS := $(foreach w,$(MS_WIDTHS),w$(w))

model-size: $(foreach x,$(MS_RUNS),$(MS_DIR)/$(x)/trained.knn.json $(MS_DIR)/$(x)/trained.linear.json)
	sh $(TOP)/pipelines/summary.sh $(MS_DIR) $(MS_RUNS)

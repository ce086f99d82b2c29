# Sourced by the table scripts: cpu_model prints the CPU's model name and, since virtual machines often show
# only a family name ("AMD EPYC"), its family and model numbers (AMD family 25 is Zen 3 / Zen 4: model 1 Milan,
# 17 Genoa; Intel family 6 model 143 is Sapphire Rapids).
cpu_model() {
  local name family model
  name="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  family="$(sed -n 's/^cpu family[[:space:]]*: *//p' /proc/cpuinfo | head -1)"
  model="$(sed -n 's/^model[[:space:]]*: *//p' /proc/cpuinfo | head -1)"
  echo "$name${family:+ (family $family model $model)}"
}

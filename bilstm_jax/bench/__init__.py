"""The benchmark CLI (`bilstm-bench`) and its parts; peers (torch, keras) load lazily."""

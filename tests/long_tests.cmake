# Costs (about their run time in seconds) of the long GoogleTest cases, so that ctest starts them first in a
# build that has no recorded times yet (a fresh clone) instead of leaving one to run on alone at the end.
# Included by ctest after the discovered tests (tests/CMakeLists.txt); a name a build does not have is ignored.
set_tests_properties([=[Models/Zoo.ReproducesItsHeldOutFigure/"segment_camvid"]=] PROPERTIES COST 90)
set_tests_properties([=[FaultsApp.TrainEvalGeneratePredictEndToEnd]=] PROPERTIES COST 80)
set_tests_properties([=[AppExport.WeightsLoadIntoPyTorchStrictly]=] PROPERTIES COST 35)
set_tests_properties([=[Models/Zoo.ReproducesItsHeldOutFigure/"anomaly_fmnist_ae_transforms"]=] PROPERTIES COST 30)
set_tests_properties([=[Models/Zoo.ReproducesItsHeldOutFigure/"faults_synthetic"]=] PROPERTIES COST 25)
set_tests_properties([=[FaultsApp.ShippedConfigRunsReduced]=] PROPERTIES COST 30)
set_tests_properties([=[FaultsApp.VolumeModelTrainsOnCubesAndPredictsACube]=] PROPERTIES COST 25)
set_tests_properties([=[AnomalyApp.FashionMnistConfigRunsReduced]=] PROPERTIES COST 20)
set_tests_properties([=[AppExport.AnomalyCombinedScoreGraphMatchesPredictScores]=] PROPERTIES COST 15)
set_tests_properties([=[GraphTraining.FaultsStepsReplayedLikeEagerOnes]=] PROPERTIES COST 15)

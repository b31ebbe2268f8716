// Runs KServe's InferenceService reconciler alone (no webhooks, no metrics or probe listeners) against
// the cluster in $KUBECONFIG, for tests of deploy-inferenceservice in RawDeployment mode.
package main

import (
	"os"

	v1alpha1 "github.com/kserve/kserve/pkg/apis/serving/v1alpha1"
	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	isvc "github.com/kserve/kserve/pkg/controller/v1beta1/inferenceservice"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

func main() {
	ctrl.SetLogger(zap.New())
	log := ctrl.Log.WithName("kserve-controller")
	cfg := ctrl.GetConfigOrDie()
	clientset := kubernetes.NewForConfigOrDie(cfg)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		log.Error(err, "manager")
		os.Exit(1)
	}
	if err := v1alpha1.AddToScheme(mgr.GetScheme()); err != nil {
		os.Exit(1)
	}
	if err := v1beta1.AddToScheme(mgr.GetScheme()); err != nil {
		os.Exit(1)
	}
	deployConfig, err := v1beta1.NewDeployConfig(clientset)
	if err != nil {
		log.Error(err, "deploy config")
		os.Exit(1)
	}
	ingressConfig, err := v1beta1.NewIngressConfig(clientset)
	if err != nil {
		log.Error(err, "ingress config")
		os.Exit(1)
	}
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: clientset.CoreV1().Events("")})
	reconciler := &isvc.InferenceServiceReconciler{
		Client:    mgr.GetClient(),
		Clientset: clientset,
		Log:       ctrl.Log.WithName("v1beta1Controllers").WithName("InferenceService"),
		Scheme:    mgr.GetScheme(),
		Recorder:  broadcaster.NewRecorder(mgr.GetScheme(), corev1.EventSource{Component: "v1beta1Controllers"}),
	}
	if err := reconciler.SetupWithManager(mgr, deployConfig, ingressConfig); err != nil {
		log.Error(err, "setup")
		os.Exit(1)
	}
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "run")
		os.Exit(1)
	}
}
